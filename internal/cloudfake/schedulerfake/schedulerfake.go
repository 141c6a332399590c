// Package schedulerfake is an in-process EventBridge Scheduler endpoint
// (REST-JSON) for tests that use the real aws-sdk-go-v2 scheduler client
// with BaseEndpoint = Server.URL. It serves CreateSchedule, GetSchedule,
// UpdateSchedule, DeleteSchedule and ListSchedules, and validates what
// the service does: a FlexibleTimeWindow, a target with a role, and
// expressions of the form cron(six fields with one '?'), rate(n unit) or
// at(…).
package schedulerfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// Schedule is a schedule as the service stores it.
type Schedule struct {
	Name                       string          `json:"Name"`
	GroupName                  string          `json:"GroupName"`
	Arn                        string          `json:"Arn"`
	ScheduleExpression         string          `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string          `json:"ScheduleExpressionTimezone,omitempty"`
	Description                string          `json:"Description,omitempty"`
	State                      string          `json:"State"`
	FlexibleTimeWindow         json.RawMessage `json:"FlexibleTimeWindow"`
	Target                     Target          `json:"Target"`
	CreationDate               float64         `json:"CreationDate"`
	LastModificationDate       float64         `json:"LastModificationDate"`
}

// Target is a schedule's target.
type Target struct {
	Arn     string `json:"Arn"`
	RoleArn string `json:"RoleArn"`
	Input   string `json:"Input,omitempty"`
}

// Server is the fake. Create it with New.
type Server struct {
	awswire.Recorder
	srv *httptest.Server
	mux *http.ServeMux

	mu        sync.Mutex
	schedules map[string]*Schedule // group/name → schedule
}

// New starts a fake EventBridge Scheduler.
func New() *Server {
	s := &Server{schedules: map[string]*Schedule{}}
	s.mux = s.newMux()
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the endpoint to pass as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Schedules returns copies of every schedule, sorted by group and name.
func (s *Server) Schedules() []Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Schedule
	for _, k := range slices.Sorted(maps.Keys(s.schedules)) {
		out = append(out, *s.schedules[k])
	}
	return out
}

// Put stores a schedule directly, as another tool would.
func (s *Server) Put(sc Schedule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc.GroupName == "" {
		sc.GroupName = "default"
	}
	s.schedules[sc.GroupName+"/"+sc.Name] = &sc
}

var (
	nameRE = regexp.MustCompile(`^[0-9a-zA-Z-_.]{1,64}$`)
	rateRE = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)
	cronRE = regexp.MustCompile(`^cron\(([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+)\)$`)
	atRE   = regexp.MustCompile(`^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$`)
)

func validExpression(e string) string {
	if m := rateRE.FindStringSubmatch(e); m != nil {
		if (m[1] == "1") != !strings.HasSuffix(m[2], "s") {
			return "Invalid Schedule Expression " + e + ": use a singular unit for 1 and plural otherwise"
		}
		return ""
	}
	if m := cronRE.FindStringSubmatch(e); m != nil {
		if (m[3] == "?") == (m[5] == "?") {
			return "Invalid Schedule Expression " + e + ": exactly one of day-of-month and day-of-week must be '?'"
		}
		return ""
	}
	if atRE.MatchString(e) {
		return ""
	}
	return "Invalid Schedule Expression " + e + "."
}

type input struct {
	ScheduleExpression         *string         `json:"ScheduleExpression"`
	ScheduleExpressionTimezone *string         `json:"ScheduleExpressionTimezone"`
	Description                *string         `json:"Description"`
	State                      *string         `json:"State"`
	FlexibleTimeWindow         json.RawMessage `json:"FlexibleTimeWindow"`
	Target                     *Target         `json:"Target"`
	GroupName                  *string         `json:"GroupName"`
}

// newMux routes the operations with ServeMux patterns.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern, op string, h func(w http.ResponseWriter, r *http.Request, in *input, group string)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, op, h) })
	}
	handle("GET /schedules", "ListSchedules", s.list)
	handle("POST /schedules/{name}", "CreateSchedule", s.put)
	handle("PUT /schedules/{name}", "UpdateSchedule", s.put)
	handle("GET /schedules/{name}", "GetSchedule", s.get)
	handle("DELETE /schedules/{name}", "DeleteSchedule", s.delete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		awswire.WriteError(w, 404, "UnknownOperationException", "schedulerfake: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// serve applies faults, decodes the body and the group, checks the
// schedule name, and runs h with s.mu held.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, op string, h func(http.ResponseWriter, *http.Request, *input, string)) {
	if s.Begin(op, w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	group := r.URL.Query().Get("groupName")
	var in input
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			awswire.WriteError(w, 400, "ValidationException", err.Error())
			return
		}
		if in.GroupName != nil {
			group = *in.GroupName
		}
	}
	if group == "" && op != "ListSchedules" {
		group = "default"
	}
	if name := r.PathValue("name"); op != "ListSchedules" && !nameRE.MatchString(name) {
		awswire.WriteError(w, 400, "ValidationException", "1 validation error detected: Value '"+name+"' at 'name' failed to satisfy constraint")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h(w, r, &in, group)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, _ *input, _ string) {
	q := r.URL.Query()
	group, prefix := q.Get("ScheduleGroup"), q.Get("NamePrefix")
	out := []map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(s.schedules)) {
		sc := s.schedules[k]
		if (group != "" && sc.GroupName != group) || !strings.HasPrefix(sc.Name, prefix) {
			continue
		}
		out = append(out, map[string]any{"Name": sc.Name, "GroupName": sc.GroupName, "Arn": sc.Arn, "State": sc.State,
			"Target": map[string]string{"Arn": sc.Target.Arn}, "CreationDate": sc.CreationDate, "LastModificationDate": sc.LastModificationDate})
	}
	awswire.WriteJSON(w, 200, map[string]any{"Schedules": out})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, _ *input, group string) {
	name := r.PathValue("name")
	cur := s.schedules[group+"/"+name]
	if cur == nil {
		awswire.WriteError(w, 404, "ResourceNotFoundException", "Schedule "+name+" does not exist.")
		return
	}
	awswire.WriteJSON(w, 200, cur)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, _ *input, group string) {
	name := r.PathValue("name")
	if s.schedules[group+"/"+name] == nil {
		awswire.WriteError(w, 404, "ResourceNotFoundException", "Schedule "+name+" does not exist.")
		return
	}
	delete(s.schedules, group+"/"+name)
	awswire.WriteJSON(w, 200, map[string]any{})
}

// put serves CreateSchedule (POST) and UpdateSchedule (PUT).
func (s *Server) put(w http.ResponseWriter, r *http.Request, in *input, group string) {
	name := r.PathValue("name")
	k := group + "/" + name
	cur := s.schedules[k]
	switch {
	case r.Method == "POST" && cur != nil:
		awswire.WriteError(w, 409, "ConflictException", "Schedule "+name+" already exists.")
		return
	case r.Method == "PUT" && cur == nil:
		awswire.WriteError(w, 404, "ResourceNotFoundException", "Schedule "+name+" does not exist.")
		return
	}
	if msg := s.validate(in); msg != "" {
		awswire.WriteError(w, 400, "ValidationException", msg)
		return
	}
	now := float64(time.Now().Unix())
	sc := &Schedule{Name: name, GroupName: group, Arn: fmt.Sprintf("arn:aws:scheduler:us-east-1:123456789012:schedule/%s/%s", group, name),
		ScheduleExpression: *in.ScheduleExpression, FlexibleTimeWindow: in.FlexibleTimeWindow, Target: *in.Target,
		State: "ENABLED", CreationDate: now, LastModificationDate: now}
	if cur != nil {
		sc.CreationDate = cur.CreationDate
	}
	if in.ScheduleExpressionTimezone != nil {
		sc.ScheduleExpressionTimezone = *in.ScheduleExpressionTimezone
	}
	if in.Description != nil {
		sc.Description = *in.Description
	}
	if in.State != nil {
		sc.State = *in.State
	}
	s.schedules[k] = sc
	awswire.WriteJSON(w, 200, map[string]string{"ScheduleArn": sc.Arn})
}

func (s *Server) validate(in *input) string {
	switch {
	case in.ScheduleExpression == nil:
		return "1 validation error detected: Value null at 'scheduleExpression' failed to satisfy constraint: Member must not be null"
	case len(in.FlexibleTimeWindow) == 0:
		return "1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null"
	case in.Target == nil || in.Target.Arn == "" || in.Target.RoleArn == "":
		return "1 validation error detected: Value null at 'target' (Arn and RoleArn) failed to satisfy constraint: Member must not be null"
	}
	if msg := validExpression(*in.ScheduleExpression); msg != "" {
		return msg
	}
	if in.ScheduleExpressionTimezone != nil {
		if _, err := time.LoadLocation(*in.ScheduleExpressionTimezone); err != nil {
			return "Invalid timezone " + *in.ScheduleExpressionTimezone
		}
	}
	return ""
}
