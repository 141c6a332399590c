// Package cloudwatchfake is an in-process CloudWatch GetMetricData
// endpoint for tests that use the real aws-sdk-go-v2 CloudWatch client
// (BaseEndpoint = Server.URL). The SDK (cloudwatch v1.75.7) speaks the
// Smithy RPC v2 CBOR protocol: POST
// /service/GraniteServiceVersion20100801/operation/GetMetricData with a
// CBOR body; this fake decodes and answers in that protocol.
package cloudwatchfake

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// Source supplies datapoints: the Sum per period of a metric with exactly
// these dimensions, between start (inclusive) and end (exclusive).
type Source interface {
	Datapoints(namespace, metric string, dims map[string]string, start, end time.Time, period time.Duration) ([]time.Time, []float64)
}

// Server is the fake. Create it with New.
type Server struct {
	awswire.Recorder
	src Source
	srv *httptest.Server
	// PageSize bounds the datapoints per result per response, to exercise
	// NextToken paging; 0 means no bound.
	PageSize int
}

// New starts a fake CloudWatch serving src's datapoints.
func New(src Source) *Server {
	s := &Server{src: src}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the endpoint to pass as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

func writeCBOR(w http.ResponseWriter, status int, v cbor.Value) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(status)
	w.Write(cbor.Encode(v))
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Query-Error", typ+";Sender")
	writeCBOR(w, status, cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + typ), "message": cbor.String(msg)})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/service/GraniteServiceVersion20100801/operation/"
	if r.Method != "POST" || !strings.HasPrefix(r.URL.Path, prefix) || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		writeErr(w, 404, "UnknownOperationException", "cloudwatchfake: no route for "+r.Method+" "+r.URL.Path)
		return
	}
	op := strings.TrimPrefix(r.URL.Path, prefix)
	if s.Begin(op, w, r) {
		return
	}
	if op != "GetMetricData" {
		writeErr(w, 400, "UnknownOperationException", "cloudwatchfake serves GetMetricData only, not "+op)
		return
	}
	body, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(body)
	in, ok := v.(cbor.Map)
	if err != nil || !ok {
		writeErr(w, 400, "SerializationException", fmt.Sprintf("cannot decode CBOR body: %v", err))
		return
	}
	out, aerr := s.getMetricData(in)
	if aerr != "" {
		writeErr(w, 400, "InvalidParameterValue", aerr)
		return
	}
	writeCBOR(w, 200, out)
}

func str(v cbor.Value) string {
	if s, ok := v.(cbor.String); ok {
		return string(s)
	}
	return ""
}

func (s *Server) getMetricData(in cbor.Map) (cbor.Value, string) {
	start, err1 := cbor.AsTime(in["StartTime"])
	end, err2 := cbor.AsTime(in["EndTime"])
	if err1 != nil || err2 != nil {
		return nil, "The parameters StartTime and EndTime are required"
	}
	if !start.Before(end) {
		return nil, "The parameter StartTime must be less than the parameter EndTime."
	}
	queries, _ := in["MetricDataQueries"].(cbor.List)
	if len(queries) == 0 || len(queries) > 500 {
		return nil, "The parameter MetricDataQueries must contain 1 to 500 queries"
	}
	offset := 0
	if tok := str(in["NextToken"]); tok != "" {
		offset, _ = strconv.Atoi(tok)
	}
	var results cbor.List
	more := false
	for _, qv := range queries {
		q, _ := qv.(cbor.Map)
		res, partial, msg := s.query(q, start, end, offset)
		if msg != "" {
			return nil, msg
		}
		results = append(results, res)
		more = more || partial
	}
	out := cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}
	if more {
		out["NextToken"] = cbor.String(strconv.Itoa(offset + s.PageSize))
	}
	return out, ""
}

// query answers one MetricStat query from offset; partial is true when
// PageSize cut it.
func (s *Server) query(q cbor.Map, start, end time.Time, offset int) (res cbor.Map, partial bool, msg string) {
	id := str(q["Id"])
	if id == "" {
		return nil, false, "The parameter MetricDataQueries.member.Id is required"
	}
	ms, _ := q["MetricStat"].(cbor.Map)
	if ms == nil {
		return nil, false, "cloudwatchfake: only MetricStat queries are supported"
	}
	metric, _ := ms["Metric"].(cbor.Map)
	period, err := cbor.AsInt64(ms["Period"])
	if err != nil || period <= 0 || (period%60 != 0 && period != 1 && period != 5 && period != 10 && period != 30) {
		return nil, false, "The parameter MetricDataQueries.member.MetricStat.Period must be 1, 5, 10, 30 or a multiple of 60"
	}
	if stat := str(ms["Stat"]); stat != "Sum" {
		return nil, false, "cloudwatchfake: only the Sum statistic is supported, not " + stat
	}
	dims := map[string]string{}
	dl, _ := metric["Dimensions"].(cbor.List)
	for _, dv := range dl {
		d, _ := dv.(cbor.Map)
		dims[str(d["Name"])] = str(d["Value"])
	}
	ts, vs := s.src.Datapoints(str(metric["Namespace"]), str(metric["MetricName"]), dims, start, end, time.Duration(period)*time.Second)
	if offset < len(ts) {
		ts, vs = ts[offset:], vs[offset:]
	} else {
		ts, vs = nil, nil
	}
	if s.PageSize > 0 && len(ts) > s.PageSize {
		ts, vs = ts[:s.PageSize], vs[:s.PageSize]
		partial = true
	}
	tl, vl := cbor.List{}, cbor.List{}
	for i := range ts {
		tl = append(tl, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(ts[i].UnixMilli()) / 1000)})
		vl = append(vl, cbor.Float64(vs[i]))
	}
	status := "Complete"
	if partial {
		status = "PartialData"
	}
	return cbor.Map{"Id": cbor.String(id), "Label": cbor.String(str(metric["MetricName"])),
		"StatusCode": cbor.String(status), "Timestamps": tl, "Values": vl}, partial, ""
}
