package lambdafake

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// Provisioned concurrency (on an alias or version) and reserved concurrency.

type provisioned struct {
	Requested  int32  `json:"RequestedProvisionedConcurrentExecutions"`
	Available  int32  `json:"AvailableProvisionedConcurrentExecutions"`
	Allocated  int32  `json:"AllocatedProvisionedConcurrentExecutions"`
	Status     string `json:"Status"`
	Reason     string `json:"StatusReason,omitempty"`
	Modified   string `json:"LastModified"`
	readyAt    time.Time
	failReason string
}

func (p *provisioned) refresh(now time.Time) {
	if p.Status != "IN_PROGRESS" || now.Before(p.readyAt) {
		return
	}
	if p.failReason != "" {
		p.Status, p.Reason, p.Allocated, p.Available = "FAILED", p.failReason, 0, 0
		return
	}
	p.Status, p.Allocated, p.Available = "READY", p.Requested, p.Requested
}

func (s *Server) startProvisioning(f *function, p *provisioned) {
	p.Status, p.Reason, p.Allocated, p.Available = "IN_PROGRESS", "", 0, 0
	p.readyAt = s.until(s.opts.ProvisionDelay)
	p.Modified = nowStamp(time.Now())
	p.failReason = ""
	if reason, ok := s.failProv[f.name]; ok {
		delete(s.failProv, f.name)
		p.failReason = reason
	}
	if s.opts.ProvisionDelay == 0 && !s.opts.SettleOnRead {
		p.refresh(time.Now())
	}
}

// provisionedQualifier checks a provisioned-concurrency qualifier.
func (s *Server) provisionedQualifier(f *function, qual string) *apiError {
	switch {
	case qual == "" || qual == "$LATEST":
		return invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	case isNumeric(qual):
		if f.version(qual) == nil {
			return notFound("Function not found: %s:%s", f.arn, qual)
		}
	default:
		a := f.aliases[qual]
		if a == nil {
			return notFound("Function not found: %s:%s", f.arn, qual)
		}
		if a.FunctionVersion == "$LATEST" {
			return invalid("Provisioned Concurrency Configs cannot be applied to an alias that points to $LATEST.")
		}
	}
	return nil
}

func (s *Server) putProvisioned(r *http.Request, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		ProvisionedConcurrentExecutions int32 `json:"ProvisionedConcurrentExecutions"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.ProvisionedConcurrentExecutions < 1 {
		return 0, nil, invalid("1 validation error detected: Value '%d' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1", in.ProvisionedConcurrentExecutions)
	}
	if aerr := s.provisionedQualifier(f, qual); aerr != nil {
		return 0, nil, aerr
	}
	p := &provisioned{Requested: in.ProvisionedConcurrentExecutions}
	f.provisioned[qual] = p
	s.startProvisioning(f, p)
	return 202, *p, nil
}

func (s *Server) getProvisioned(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	s.settleOnRead(f)
	p := f.provisioned[qual]
	if p == nil {
		return 0, nil, errf(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
	}
	return 200, *p, nil
}

func (s *Server) deleteProvisioned(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.provisioned[qual] == nil {
		return 0, nil, errf(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
	}
	delete(f.provisioned, qual)
	return 204, nil, nil
}

func (s *Server) listProvisioned(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	type item struct {
		FunctionArn string `json:"FunctionArn"`
		provisioned
	}
	var all []item
	for _, q := range slices.Sorted(maps.Keys(f.provisioned)) {
		all = append(all, item{FunctionArn: f.arn + ":" + q, provisioned: *f.provisioned[q]})
	}
	items, next := page(all, r)
	return 200, map[string]any{"ProvisionedConcurrencyConfigs": items, "NextMarker": next}, nil
}

func (s *Server) putConcurrency(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		ReservedConcurrentExecutions *int32 `json:"ReservedConcurrentExecutions"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.ReservedConcurrentExecutions == nil || *in.ReservedConcurrentExecutions < 0 {
		return 0, nil, invalid("ReservedConcurrentExecutions must be 0 or more")
	}
	if *in.ReservedConcurrentExecutions > 900 {
		return 0, nil, invalid("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].")
	}
	v := *in.ReservedConcurrentExecutions
	f.reserved = &v
	return 200, map[string]int32{"ReservedConcurrentExecutions": v}, nil
}

func (s *Server) deleteConcurrency(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	f.reserved = nil
	return 204, nil, nil
}

func (s *Server) getConcurrency(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.reserved == nil {
		return 200, map[string]any{}, nil
	}
	return 200, map[string]int32{"ReservedConcurrentExecutions": *f.reserved}, nil
}
