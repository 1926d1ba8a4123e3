// SPDX-License-Identifier: Apache-2.0

// kube-lite-cel: kube-lite's CEL evaluator for ValidatingAdmissionPolicy, built on
// Google's cel-go (see env.go for the environment). kube-lite starts it once as a
// child and talks to it over its stdin and stdout, one JSON object a line each way:
//
//	{"op":"check","policy":SPEC}
//	  -> {"errors":[{"field":F,"type":"FieldValueInvalid","message":M}...]}
//	{"op":"eval","key":K,"policy":SPEC,"input":{"object":..,"oldObject":..,"request":..,"namespaceObject":..}}
//	  -> {"matched":B,"decisions":[{"message":M,"reason":R}...]}
//
// and {"error":TEXT} when a request cannot be answered. Programs are kept per
// key (kube-lite sends the policy's uid and resourceVersion), so a policy is
// compiled once per version.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// maxCached policies: past it the cache starts anew (old versions are never asked for again).
const maxCached = 512

type request struct {
	Op     string     `json:"op"`
	Key    string     `json:"key"`
	Policy policySpec `json:"policy"`
	Input  input      `json:"input"`
}

type server struct {
	cache map[string]*compiledPolicy
}

func (s *server) policy(r *request) (*compiledPolicy, error) {
	if p, ok := s.cache[r.Key]; ok && r.Key != "" {
		return p, nil
	}
	p, err := compilePolicy(&r.Policy)
	if err != nil {
		return nil, err
	}
	if len(s.cache) >= maxCached {
		s.cache = map[string]*compiledPolicy{}
	}
	if r.Key != "" {
		s.cache[r.Key] = p
	}
	return p, nil
}

func (s *server) answer(line []byte) any {
	var r request
	if err := json.Unmarshal(line, &r); err != nil {
		return map[string]string{"error": "not a request: " + err.Error()}
	}
	switch r.Op {
	case "check":
		errs, err := check(&r.Policy)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		if errs == nil {
			errs = []fieldError{}
		}
		return map[string]any{"errors": errs}
	case "eval":
		p, err := s.policy(&r)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		res, err := p.evaluate(&r.Input)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		return res
	}
	return map[string]string{"error": fmt.Sprintf("unknown op %q", r.Op)}
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kube-lite-cel (JSON lines on stdin; started by kube-lite)")
		os.Exit(2)
	}
	s := &server{cache: map[string]*compiledPolicy{}}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			if e := enc.Encode(s.answer(line)); e != nil {
				os.Exit(1)
			}
			if e := out.Flush(); e != nil {
				os.Exit(1)
			}
		}
		if err != nil {
			return
		}
	}
}
