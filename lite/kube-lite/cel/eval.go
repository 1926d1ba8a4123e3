// SPDX-License-Identifier: Apache-2.0

// Evaluating a compiled policy for one admission request as the API server's
// validator does: variables (an erring one fails only the expressions that use
// it), matchConditions (false: the policy does not apply; an error: the
// failure policy decides), then each validation, its message from
// messageExpression, message or the expression, and the failure policy for
// errors. Only the decisions that deny are answered.
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// maxMessageBytes is the API server's limit on a messageExpression's result.
const maxMessageBytes = 5 * 1024

type input struct {
	Object    json.RawMessage `json:"object"`
	OldObject json.RawMessage `json:"oldObject"`
	Request   json.RawMessage `json:"request"`
	Namespace json.RawMessage `json:"namespaceObject"`
}

type decision struct {
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

type evalResult struct {
	Matched   bool       `json:"matched"`
	Decisions []decision `json:"decisions"`
}

// plain decodes JSON with integers as int64 (as Kubernetes' unstructured objects hold them).
func plain(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbers(e)
		}
	}
	return v
}

func activation(in *input) (map[string]any, error) {
	act := map[string]any{}
	for name, raw := range map[string]json.RawMessage{
		varObject: in.Object, varOldObject: in.OldObject, varRequest: in.Request, varNamespace: in.Namespace,
	} {
		v, err := plain(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		act[name] = v
	}
	return act, nil
}

// run evaluates c: its value, or the error text the API server reports.
func run(c *compiled, act map[string]any) (ref.Val, string) {
	if c.err != "" {
		return nil, "compilation error: " + c.err
	}
	v, _, err := c.prg.Eval(act)
	if err != nil {
		return nil, fmt.Sprintf("expression '%v' resulted in error: %v", c.expr, err)
	}
	return v, ""
}

// bindVariables evaluates the variables in order into act["variables"]; one
// that fails is an error value there, seen only by expressions that read it.
func (p *compiledPolicy) bindVariables(act map[string]any) {
	vals := map[ref.Val]ref.Val{}
	act[varVariables] = types.NewRefValMap(types.DefaultTypeAdapter, vals)
	for i := range p.variables {
		c, name := &p.variables[i], p.varNames[i]
		if c.err != "" {
			vals[types.String(name)] = types.NewErr("composited variable %q fails to compile: %v", name, c.err)
			continue
		}
		v, _, err := c.prg.Eval(act)
		if err != nil {
			v = types.NewErr("composited variable %q fails to evaluate: %v", name, err)
		}
		vals[types.String(name)] = v
	}
}

// matches: the matchConditions (all true, or errors the failure policy lets
// through); a denial when errors meet failurePolicy Fail.
func (p *compiledPolicy) matches(act map[string]any) (bool, *decision) {
	var errs []string
	for i := range p.conditions {
		v, e := run(&p.conditions[i], act)
		if e != "" {
			errs = append(errs, e)
			continue
		}
		if v == types.False {
			return false, nil
		}
	}
	if len(errs) == 0 {
		return true, nil
	}
	if p.failIgnore {
		return false, nil
	}
	msg := errs[0]
	if len(errs) > 1 {
		msg = "[" + strings.Join(errs, ", ") + "]"
	}
	return true, &decision{Message: msg}
}

// message of a failed validation: messageExpression's string, else message, else the expression.
func (p *compiledPolicy) message(i int, act map[string]any) string {
	v := p.spec.Validations[i]
	if m := &p.messages[i]; m.prg != nil {
		if val, e := run(m, act); e == "" {
			if s, ok := val.Value().(string); ok {
				s = strings.TrimSpace(s)
				if len(s) <= maxMessageBytes && !strings.Contains(s, "\n") && s != "" {
					return s
				}
			}
		}
	}
	if msg := strings.TrimSpace(v.Message); msg != "" {
		return msg
	}
	return fmt.Sprintf("failed expression: %v", strings.TrimSpace(v.Expression))
}

func (p *compiledPolicy) evaluate(in *input) (*evalResult, error) {
	act, err := activation(in)
	if err != nil {
		return nil, err
	}
	p.bindVariables(act)
	res := &evalResult{Decisions: []decision{}}
	matched, deny := p.matches(act)
	res.Matched = matched
	if deny != nil || !matched {
		if deny != nil {
			res.Decisions = append(res.Decisions, *deny)
		}
		return res, nil
	}
	for i := range p.validations {
		v, e := run(&p.validations[i], act)
		switch {
		case e != "":
			if !p.failIgnore {
				res.Decisions = append(res.Decisions, decision{Message: e})
			}
		case v != types.True:
			reason := "Invalid"
			if r := p.spec.Validations[i].Reason; r != nil {
				reason = *r
			}
			res.Decisions = append(res.Decisions, decision{Message: p.message(i, act), Reason: reason})
		}
	}
	return res, nil
}
