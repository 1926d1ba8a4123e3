// SPDX-License-Identifier: Apache-2.0

// A ValidatingAdmissionPolicy's expressions compiled as the API server compiles
// them (variables in order, each seeing the ones before it; matchConditions and
// validations as booleans, messageExpression as a string), with the field errors
// its validation reports for expressions that do not compile.
package main

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

type namedExpr struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

type validation struct {
	Expression        string  `json:"expression"`
	Message           string  `json:"message"`
	MessageExpression string  `json:"messageExpression"`
	Reason            *string `json:"reason"`
}

type policySpec struct {
	FailurePolicy   *string         `json:"failurePolicy"`
	MatchConditions []namedExpr     `json:"matchConditions"`
	Variables       []namedExpr     `json:"variables"`
	Validations     []validation    `json:"validations"`
	AuditAnns       []any           `json:"auditAnnotations"`
	MatchConstr     *map[string]any `json:"matchConstraints"`
}

// fieldError is one cause of a 422: the field, its cause type and the text the
// API server's field.Error prints after the field ("Invalid value: ...").
type fieldError struct {
	Field   string `json:"field"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// compiled is one expression: a program, or the error its compilation gave.
type compiled struct {
	expr string
	prg  cel.Program
	out  *types.Type
	err  string
}

type compiledPolicy struct {
	failIgnore  bool
	conditions  []compiled
	variables   []compiled
	varNames    []string
	validations []compiled
	messages    []compiled // messageExpression of each validation (expr "" when none)
	spec        *policySpec
}

// compile the expression with the wanted output type (nil: any), as the API
// server's CompileCELExpression does, with its error texts.
func compile(env *cel.Env, expr string, want *types.Type) compiled {
	c := compiled{expr: expr}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		c.err = "compilation failed: " + iss.String()
		return c
	}
	c.out = ast.OutputType()
	if want != nil && !c.out.IsExactType(want) {
		c.err = fmt.Sprintf("must evaluate to %v but got %v", want.String(), c.out.String())
		return c
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.err = "program instantiation failed: " + err.Error()
	}
	c.prg = prg
	return c
}

func compilePolicy(spec *policySpec) (*compiledPolicy, error) {
	vars := map[string]*types.Type{}
	env, err := newEnv(vars)
	if err != nil {
		return nil, fmt.Errorf("environment misconfigured: %w", err)
	}
	p := &compiledPolicy{spec: spec, failIgnore: spec.FailurePolicy != nil && *spec.FailurePolicy == "Ignore"}
	for _, v := range spec.Variables {
		c := compile(env, v.Expression, nil)
		vars[v.Name] = types.DynType
		if c.err == "" {
			vars[v.Name] = c.out
		}
		p.variables = append(p.variables, c)
		p.varNames = append(p.varNames, v.Name)
	}
	for _, m := range spec.MatchConditions {
		p.conditions = append(p.conditions, compile(env, m.Expression, types.BoolType))
	}
	for _, v := range spec.Validations {
		p.validations = append(p.validations, compile(env, v.Expression, types.BoolType))
		m := compiled{}
		if strings.TrimSpace(v.MessageExpression) != "" {
			m = compile(env, v.MessageExpression, types.StringType)
		}
		p.messages = append(p.messages, m)
	}
	return p, nil
}

func invalid(field, value, detail string) fieldError {
	return fieldError{field, "FieldValueInvalid", fmt.Sprintf("Invalid value: %q: %s", value, detail)}
}

func required(field, detail string) fieldError {
	msg := "Required value"
	if detail != "" {
		msg += ": " + detail
	}
	return fieldError{field, "FieldValueRequired", msg}
}

func notSupported(field, value string, supported ...string) fieldError {
	q := make([]string, len(supported))
	for i, s := range supported {
		q[i] = fmt.Sprintf("%q", s)
	}
	return fieldError{field, "FieldValueNotSupported",
		fmt.Sprintf("Unsupported value: %q: supported values: %s", value, strings.Join(q, ", "))}
}

// check is the API server's validation of the policy's spec, as far as it
// concerns the expressions and the fields they depend on.
func check(spec *policySpec) ([]fieldError, error) {
	var errs []fieldError
	if fp := spec.FailurePolicy; fp != nil && *fp != "Fail" && *fp != "Ignore" {
		errs = append(errs, notSupported("spec.failurePolicy", *fp, "Fail", "Ignore"))
	}
	if spec.MatchConstr == nil {
		errs = append(errs, required("spec.matchConstraints", ""))
	} else if rr, ok := (*spec.MatchConstr)["resourceRules"].([]any); !ok || len(rr) == 0 {
		errs = append(errs, required("spec.matchConstraints.resourceRules", ""))
	}
	p, err := compilePolicy(spec)
	if err != nil {
		return nil, err
	}
	for i, m := range spec.MatchConditions {
		f := fmt.Sprintf("spec.matchConditions[%d]", i)
		errs = append(errs, exprErrors(f+".expression", m.Expression, p.conditions[i], "")...)
		if m.Name == "" {
			errs = append(errs, required(f+".name", ""))
		}
	}
	for i, v := range spec.Variables {
		f := fmt.Sprintf("spec.variables[%d]", i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, required(f+".name", "name is not specified"))
		}
		errs = append(errs, exprErrors(f+".expression", v.Expression, p.variables[i], "expression is not specified")...)
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnns) == 0 {
		const need = "validations or auditAnnotations must contain at least one item"
		return append(errs, required("spec.validations", need), required("spec.auditAnnotations", need)), nil
	}
	for i, v := range spec.Validations {
		errs = append(errs, validationErrors(fmt.Sprintf("spec.validations[%d]", i), v, p.validations[i], p.messages[i])...)
	}
	return errs, nil
}

// exprErrors: a missing expression (Required, with detail) or one that does not compile.
func exprErrors(field, expr string, c compiled, detail string) []fieldError {
	if strings.TrimSpace(expr) == "" {
		return []fieldError{required(field, detail)}
	}
	if c.err != "" {
		return []fieldError{invalid(field, expr, c.err)}
	}
	return nil
}

var reasons = []string{"Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"}

func validationErrors(f string, v validation, c, m compiled) []fieldError {
	errs := exprErrors(f+".expression", v.Expression, c, "expression is not specified")
	if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
		errs = append(errs, invalid(f+".messageExpression", v.MessageExpression, "must be non-empty if specified"))
	} else if m.err != "" {
		errs = append(errs, invalid(f+".messageExpression", v.MessageExpression, m.err))
	}
	msg := strings.TrimSpace(v.Message)
	if v.Message != "" && msg == "" {
		errs = append(errs, invalid(f+".message", v.Message, "message must be non-empty if specified"))
	} else if strings.ContainsAny(msg, "\n\r") {
		errs = append(errs, invalid(f+".message", v.Message, "message must not contain line breaks"))
	}
	if v.Reason != nil {
		ok := false
		for _, r := range reasons {
			ok = ok || r == *v.Reason
		}
		if !ok {
			errs = append(errs, notSupported(f+".reason", *v.Reason, reasons...))
		}
	}
	return errs
}
