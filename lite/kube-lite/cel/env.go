// SPDX-License-Identifier: Apache-2.0

// The CEL environment of ValidatingAdmissionPolicy expressions as a Kubernetes
// 1.32 API server builds it, as far as cel-go itself carries it: the standard
// library with the options and the cel-go extension libraries the API server
// turns on (strings v2, sets, two-variable comprehensions, optional types,
// cross-type numeric comparisons, the literal validators), the variables object,
// oldObject (dynamic), request and namespaceObject (typed as the API server types
// them, so a misspelt request field fails to compile) and variables (an object
// whose fields are the policy's variables, each typed by its expression).
// Kubernetes' own libraries (quantity, IP, CIDR, URL, regex find, format,
// authorizer, semver, its lists functions) are not in cel-go and not here.
package main

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// Names of the variables an expression sees.
const (
	varObject    = "object"
	varOldObject = "oldObject"
	varRequest   = "request"
	varNamespace = "namespaceObject"
	varVariables = "variables"
	variablesTyp = "kubernetes.variables"
)

// structs is a small type provider: object types by name, each a map of field
// name to type. Unknown names go to the base provider. At run time the values
// are plain maps, which field selection reads by key.
type structs struct {
	base   types.Provider
	fields map[string]map[string]*types.Type
}

func (s *structs) EnumValue(name string) ref.Val { return s.base.EnumValue(name) }

func (s *structs) FindIdent(name string) (ref.Val, bool) { return s.base.FindIdent(name) }

func (s *structs) FindStructType(name string) (*types.Type, bool) {
	if _, ok := s.fields[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return s.base.FindStructType(name)
}

func (s *structs) FindStructFieldNames(name string) ([]string, bool) {
	f, ok := s.fields[name]
	if !ok {
		return s.base.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	return names, true
}

func (s *structs) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	f, ok := s.fields[name]
	if !ok {
		return s.base.FindStructFieldType(name, field)
	}
	t, ok := f[field]
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: t}, true
}

func (s *structs) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := s.fields[name]; ok {
		return types.NewErr("cannot construct %s", name)
	}
	return s.base.NewValue(name, fields)
}

// addRequestTypes declares kubernetes.AdmissionRequest and the types of its fields.
func (s *structs) addRequestTypes() *types.Type {
	str, strs := types.StringType, types.NewListType(types.StringType)
	gvk := s.add("kubernetes.GroupVersionKind", map[string]*types.Type{"group": str, "version": str, "kind": str})
	gvr := s.add("kubernetes.GroupVersionResource", map[string]*types.Type{"group": str, "version": str, "resource": str})
	user := s.add("kubernetes.UserInfo", map[string]*types.Type{
		"username": str, "uid": str, "groups": strs, "extra": types.NewMapType(str, strs),
	})
	return s.add("kubernetes.AdmissionRequest", map[string]*types.Type{
		"kind": gvk, "resource": gvr, "subResource": str, "requestKind": gvk, "requestResource": gvr,
		"requestSubResource": str, "name": str, "namespace": str, "operation": str, "userInfo": user,
		"dryRun": types.BoolType, "options": types.DynType,
	})
}

// addNamespaceTypes declares kubernetes.Namespace (the fields the API server exposes).
func (s *structs) addNamespaceTypes() *types.Type {
	str, strs, ts := types.StringType, types.NewListType(types.StringType), types.TimestampType
	labels := types.NewMapType(str, str)
	spec := s.add("kubernetes.NamespaceSpec", map[string]*types.Type{"finalizers": strs})
	cond := s.add("kubernetes.NamespaceCondition", map[string]*types.Type{
		"status": str, "type": str, "lastTransitionTime": ts, "message": str, "reason": str,
	})
	status := s.add("kubernetes.NamespaceStatus", map[string]*types.Type{
		"conditions": types.NewListType(cond), "phase": str,
	})
	meta := s.add("kubernetes.NamespaceMetadata", map[string]*types.Type{
		"name": str, "generateName": str, "namespace": str, "labels": labels, "annotations": labels,
		"UID": str, "creationTimestamp": ts, "deletionGracePeriodSeconds": types.IntType, "deletionTimestamp": ts,
		"generation": types.IntType, "resourceVersion": str, "finalizers": strs,
	})
	return s.add("kubernetes.Namespace", map[string]*types.Type{"metadata": meta, "spec": spec, "status": status})
}

func (s *structs) add(name string, fields map[string]*types.Type) *types.Type {
	s.fields[name] = fields
	return types.NewObjectType(name)
}

// newEnv is the environment for one policy: vars are the policy's variables
// compiled so far (name to output type), which the caller extends as it goes.
func newEnv(vars map[string]*types.Type) (*cel.Env, error) {
	base, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	s := &structs{base: base.CELTypeProvider(), fields: map[string]map[string]*types.Type{}}
	request, namespace := s.addRequestTypes(), s.addNamespaceTypes()
	s.fields[variablesTyp] = vars
	return cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.ASTValidators(cel.ValidateDurationLiterals(), cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(), cel.ValidateHomogeneousAggregateLiterals()),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		cel.CustomTypeProvider(s),
		cel.Variable(varObject, cel.DynType),
		cel.Variable(varOldObject, cel.DynType),
		cel.Variable(varRequest, request),
		cel.Variable(varNamespace, namespace),
		cel.Variable(varVariables, types.NewObjectType(variablesTyp)),
	)
}
