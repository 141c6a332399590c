package lambdafake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Resource policies: AddPermission, GetPolicy, RemovePermission.

// permissionInput is AddPermission's request.
type permissionInput struct {
	StatementId           string  `json:"StatementId"`
	Action                string  `json:"Action"`
	Principal             string  `json:"Principal"`
	SourceArn             *string `json:"SourceArn"`
	SourceAccount         *string `json:"SourceAccount"`
	FunctionUrlAuthType   *string `json:"FunctionUrlAuthType"`
	InvokedViaFunctionUrl *bool   `json:"InvokedViaFunctionUrl"`
	RevisionId            *string `json:"RevisionId"`
}

// statement builds the statement in grants on resource res.
func (in *permissionInput) statement(res string) statement {
	st := statement{Sid: in.StatementId, Effect: "Allow", Action: in.Action, Resource: res, Condition: map[string]any{}}
	if in.Principal == "*" {
		st.Principal = "*"
	} else if strings.HasSuffix(in.Principal, ".amazonaws.com") {
		st.Principal = map[string]string{"Service": in.Principal}
	} else {
		st.Principal = map[string]string{"AWS": in.Principal}
	}
	cond := func(op, key, val string) {
		m, _ := st.Condition[op].(map[string]string)
		if m == nil {
			m = map[string]string{}
			st.Condition[op] = m
		}
		m[key] = val
	}
	if in.SourceArn != nil {
		cond("ArnLike", "AWS:SourceArn", *in.SourceArn)
	}
	if in.SourceAccount != nil {
		cond("StringEquals", "AWS:SourceAccount", *in.SourceAccount)
	}
	if in.FunctionUrlAuthType != nil {
		cond("StringEquals", "lambda:FunctionUrlAuthType", *in.FunctionUrlAuthType)
	}
	if in.InvokedViaFunctionUrl != nil && *in.InvokedViaFunctionUrl {
		cond("Bool", "lambda:InvokedViaFunctionUrl", "true")
	}
	if len(st.Condition) == 0 {
		st.Condition = nil
	}
	return st
}

// statement is one resource-policy statement.
type statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal"`
	Action    string         `json:"Action"`
	Resource  string         `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func (s *Server) addPermission(r *http.Request, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in permissionInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if qual == "$LATEST" {
		return 0, nil, invalid("We currently do not support adding policies for $LATEST.")
	}
	if qual != "" {
		if _, aerr := s.qualified(f, qual); aerr != nil {
			return 0, nil, aerr
		}
	}
	if in.StatementId == "" || in.Action == "" || in.Principal == "" {
		return 0, nil, invalid("StatementId, Action and Principal are required")
	}
	if in.RevisionId != nil && *in.RevisionId != f.policyRev[qual] {
		return 0, nil, badRevision()
	}
	for _, st := range f.policies[qual] {
		if st.Sid == in.StatementId {
			return 0, nil, conflict("The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", in.StatementId)
		}
	}
	res := f.arn
	if qual != "" {
		res += ":" + qual
	}
	st := in.statement(res)
	f.policies[qual] = append(f.policies[qual], st)
	f.policyRev[qual] = newID()
	b, _ := json.Marshal(st)
	return 201, map[string]string{"Statement": string(b)}, nil
}

func (s *Server) getPolicy(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	sts := f.policies[qual]
	if len(sts) == 0 {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "default", "Statement": sts})
	return 200, map[string]string{"Policy": string(doc), "RevisionId": f.policyRev[qual]}, nil
}

func (s *Server) removePermission(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if rev := r.URL.Query().Get("RevisionId"); rev != "" && rev != f.policyRev[qual] {
		return 0, nil, badRevision()
	}
	sts := f.policies[qual]
	i := slices.IndexFunc(sts, func(st statement) bool { return st.Sid == r.PathValue("sid") })
	if i < 0 {
		return 0, nil, notFound("Statement %s is not found in resource policy.", r.PathValue("sid"))
	}
	f.policies[qual] = slices.Delete(sts, i, i+1)
	f.policyRev[qual] = newID()
	return 204, nil, nil
}

// Policy returns the statements of function fn's policy on qualifier, as JSON.
func (s *Server) Policy(fn, qualifier string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[fn]
	if f == nil {
		return nil
	}
	var out []string
	for _, st := range f.policies[qualifier] {
		b, _ := json.Marshal(st)
		out = append(out, string(b))
	}
	return out
}

// PublicURLInvocable reports whether an anonymous caller could invoke the
// function URL on qualifier: AuthType NONE with both the
// lambda:InvokeFunctionUrl and the lambda:InvokeFunction
// (InvokedViaFunctionUrl) statements that Lambda requires since October 2025.
func (s *Server) PublicURLInvocable(fn, qualifier string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[fn]
	if f == nil || f.urls[qualifier] == nil || f.urls[qualifier].AuthType != "NONE" {
		return false
	}
	var urlOK, invokeOK bool
	for _, st := range f.policies[qualifier] {
		if st.Principal != "*" {
			continue
		}
		b, _ := json.Marshal(st.Condition)
		switch {
		case st.Action == "lambda:InvokeFunctionUrl" && strings.Contains(string(b), `"lambda:FunctionUrlAuthType":"NONE"`):
			urlOK = true
		case st.Action == "lambda:InvokeFunction" && strings.Contains(string(b), `"lambda:InvokedViaFunctionUrl":"true"`):
			invokeOK = true
		}
	}
	return urlOK && invokeOK
}

// HasPermission reports whether function fn's policy on qualifier lets
// principal invoke it from sourceArn (S3 checks this before accepting a
// notification configuration).
func (s *Server) HasPermission(fnArn, principal, sourceArn string) bool {
	name, qual, ok := splitName(fnArn)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return false
	}
	for _, st := range f.policies[qual] {
		p, _ := st.Principal.(map[string]string)
		if st.Action != "lambda:InvokeFunction" || p["Service"] != principal {
			continue
		}
		if c, _ := st.Condition["ArnLike"].(map[string]string); c != nil && c["AWS:SourceArn"] == sourceArn {
			return true
		}
	}
	return false
}
