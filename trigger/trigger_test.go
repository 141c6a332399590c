package trigger

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := []Trigger{
		HTTP{Key: "web"},
		HTTP{Key: "public", Auth: AuthNone, CORSOrigins: []string{"*", "https://example.com"}},
		Queue{Key: "jobs", Source: "arn:aws:sqs:eu-west-1:1:jobs", BatchSize: 10, MaxBatchingWindow: time.Second},
		Stream{Key: "orders-db", Source: "arn:aws:dynamodb:eu-west-1:1:table/orders/stream/x", StartingPosition: StartTrimHorizon},
		Schedule{Key: "tick", Cron: "*/5 * * * *", TimeZone: "Europe/Paris"},
		Schedule{Key: "hourly", Rate: time.Hour},
		Storage{Key: "uploads", Bucket: "my-bucket", Events: []StorageEvent{ObjectCreated, ObjectDeleted}, Prefix: "in/"},
	}
	for _, tr := range good {
		if err := tr.Validate(); err != nil {
			t.Errorf("%s: %v", Describe(tr), err)
		}
	}
	bad := map[string]Trigger{
		"trigger key is empty":             HTTP{},
		"use 1 to 40":                      HTTP{Key: "Web"},
		`auth "open"`:                      HTTP{Key: "web", Auth: "open"},
		`CORS origin "example.com"`:        HTTP{Key: "web", CORSOrigins: []string{"example.com"}},
		"Source is empty":                  Queue{Key: "q"},
		"batch size -1":                    Queue{Key: "q", Source: "x", BatchSize: -1},
		"batching window 10m0s":            Queue{Key: "q", Source: "x", MaxBatchingWindow: 10 * time.Minute},
		`starting position "now"`:          Stream{Key: "s", Source: "x", StartingPosition: "now"},
		"set Cron":                         Schedule{Key: "s"},
		"not both":                         Schedule{Key: "s", Cron: "* * * * *", Rate: time.Minute},
		"rate 30s":                         Schedule{Key: "s", Rate: 30 * time.Second},
		`cron "61 * * * *" does not parse`: Schedule{Key: "s", Cron: "61 * * * *"},
		`cron "* * * *" does not parse`:    Schedule{Key: "s", Cron: "* * * *"},
		`cron "0 0 30 2 *" never fires`:    Schedule{Key: "s", Cron: "0 0 30 2 *"},
		`time zone "Mars/Olympus"`:         Schedule{Key: "s", Cron: "0 9 * * 1", TimeZone: "Mars/Olympus"},
		"Bucket is empty":                  Storage{Key: "b"},
		`event "modified"`:                 Storage{Key: "b", Bucket: "x", Events: []StorageEvent{"modified"}},
	}
	for want, tr := range bad {
		err := tr.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%#v: got %v, want an error containing %q", tr, err, want)
		}
	}
}

func TestValidateAllFindsDuplicatesAndNils(t *testing.T) {
	err := ValidateAll([]Trigger{HTTP{Key: "a"}, Queue{Key: "a", Source: "q"}, nil, Schedule{Key: "b"}})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{`"a" is used twice`, "trigger 2 is nil", "set Cron"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
	if ValidateAll(nil) != nil {
		t.Error("no triggers is valid")
	}
}

func TestNormalize(t *testing.T) {
	a := Normalize(Storage{Key: "s", Bucket: "b", Events: []StorageEvent{ObjectDeleted, ObjectCreated}})
	b := Normalize(Storage{Key: "s", Bucket: "b", Events: []StorageEvent{ObjectCreated, ObjectDeleted}})
	if Describe(a) != Describe(b) {
		t.Errorf("event order changes meaning: %s vs %s", Describe(a), Describe(b))
	}
	if Normalize(HTTP{Key: "w"}).(HTTP).Auth != AuthIAM {
		t.Error("HTTP auth default")
	}
	if Normalize(Stream{Key: "s", Source: "x"}).(Stream).StartingPosition != StartLatest {
		t.Error("stream default")
	}
	if got := Normalize(Storage{Key: "s", Bucket: "b"}).(Storage).Events; len(got) != 1 || got[0] != ObjectCreated {
		t.Errorf("storage default events %v", got)
	}
}

func TestScheduleNext(t *testing.T) {
	from := time.Date(2026, 3, 1, 8, 2, 0, 0, time.UTC)
	got := Schedule{Key: "s", Cron: "*/5 * * * *"}.Next(from)
	if want := time.Date(2026, 3, 1, 8, 5, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
	paris := Schedule{Key: "s", Cron: "0 9 * * *", TimeZone: "Europe/Paris"}.Next(from)
	if paris.UTC().Hour() != 8 {
		t.Errorf("9:00 Paris in March is 8:00 UTC, got %v", paris.UTC())
	}
	if !(Schedule{Key: "s"}).Next(from).IsZero() {
		t.Error("invalid schedule must give the zero time")
	}
}

// A time zone prefix in Cron used to panic inside robfig/cron (no space
// after it) or to give the schedule a zone Describe did not show.
func TestScheduleRefusesTimeZoneInCron(t *testing.T) {
	for expr, want := range map[string]string{
		"TZ=UTC":                       `set Schedule.TimeZone to "UTC"`,
		"CRON_TZ=UTC":                  `set Schedule.TimeZone to "UTC"`,
		"TZ=":                          "set Schedule.TimeZone instead",
		"CRON_TZ=":                     "set Schedule.TimeZone instead",
		"TZ=Europe/Paris\t0 9 * * *":   `set Schedule.TimeZone to "Europe/Paris"`,
		"CRON_TZ=Asia/Tokyo 0 9 * * *": `set Schedule.TimeZone to "Asia/Tokyo"`,
		"0 9 * * * TZ=UTC":             "field 6 has an '='",
		"0 9=1 * * *":                  "field 2 has an '='",
	} {
		s := Schedule{Key: "k", Cron: expr}
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cron %q: got %v, want an error containing %q", expr, err, want)
		}
		if !s.Next(time.Now()).IsZero() {
			t.Errorf("cron %q: Next fires although Validate refuses it", expr)
		}
	}
}

// The zone a schedule fires in is TimeZone, which Describe shows.
func TestScheduleZoneIsTimeZoneAlone(t *testing.T) {
	s := Schedule{Key: "k", Cron: "0 9 * * *", TimeZone: "Asia/Tokyo"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	next := s.Next(time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Errorf("9:00 Tokyo fires at %v, want %v", next.UTC(), want)
	}
	if d := Describe(s); !strings.Contains(d, "Asia/Tokyo") {
		t.Errorf("Describe = %q, want the zone it fires in", d)
	}
	if loc := s.Location(); loc == nil || loc.String() != "Asia/Tokyo" {
		t.Errorf("Location = %v", loc)
	}
	if loc := (Schedule{Key: "k", Cron: "0 9 * * *"}).Location(); loc != time.UTC {
		t.Errorf("an empty TimeZone is read in %v, want UTC", loc)
	}
	if loc := (Schedule{Key: "k", TimeZone: "Mars/Olympus"}).Location(); loc != nil {
		t.Errorf("an unknown zone loads as %v", loc)
	}
}

func FuzzScheduleValidate(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "0 9 * * 1-5", "61 * * * *", "", "@daily", "* * * * * *",
		"TZ=UTC", "CRON_TZ=UTC", "TZ=", "CRON_TZ=", "TZ=UTC 0 9 * * *", "CRON_TZ=Asia/Tokyo 0 9 * * *",
		"TZ=Nowhere/Atall * * * * *", "CRON_TZ= * * * * *", "TZ=UTC\t* * * * *", "*/0 * * * *", "1-0 * * * *",
		"0 0 L * *", "0 0 ? * 1#2", "0-59/61 * * * *", "JAN-DEC * * * *", "* * * jan-dec sun-sat"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cron string) {
		s := Schedule{Key: "k", Cron: cron}
		err := s.Validate()
		if err == nil && s.Next(time.Unix(0, 0)).IsZero() {
			t.Fatalf("cron %q validates but never fires", cron)
		}
		if err == nil && strings.Contains(cron, "=") {
			t.Fatalf("cron %q carries a time zone of its own but validates", cron)
		}
	})
}

// TestNormalizeCopies: a normalized trigger shares no memory with the
// caller's, so changing the caller's after Apply changes no stored state.
func TestNormalizeCopies(t *testing.T) {
	n := 3
	s := Normalize(Stream{Key: "s", Source: "t", MaxRetries: &n}).(Stream)
	h := HTTP{Key: "web", CORSOrigins: []string{"https://a"}}
	hn := Normalize(h).(HTTP)
	p := Schedule{Key: "c", Rate: time.Minute, Payload: []byte("x")}
	pn := Normalize(p).(Schedule)
	n, h.CORSOrigins[0], p.Payload[0] = 9, "https://b", 'y'
	if *s.MaxRetries != 3 || hn.CORSOrigins[0] != "https://a" || string(pn.Payload) != "x" {
		t.Fatalf("Normalize shares memory with its input: %d %v %q", *s.MaxRetries, hn.CORSOrigins, pn.Payload)
	}
}
