package awslambda

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Schedules: EventBridge Scheduler schedules that invoke the alias. A
// read costs ListSchedules (name prefix updraft-) plus GetSchedule per
// owned schedule; a new one CreateSchedule.

type scheduleKind struct{}

func (scheduleKind) usesPolicy() bool { return false }

func (scheduleKind) read(ctx context.Context, f *function, rt *routeTriggers) error {
	if f.sched == nil {
		return nil
	}
	return f.readSchedules(ctx, rt)
}

func (scheduleKind) sig(f *function, rt *routeTriggers, t trigger.Trigger) (string, error) {
	v := t.(trigger.Schedule)
	if f.sched == nil || f.opts.SchedulerRoleArn == "" {
		return "", driver.NewError(driver.InvalidArgument, scheduleNeedsRole(v.Key))
	}
	expr, err := scheduleExpression(v)
	if err != nil {
		return "", err
	}
	return scheduleSig(expr, v.TimeZone, string(v.Payload), rt.aliasArn, f.opts.SchedulerRoleArn), nil
}

func (scheduleKind) put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	return f.putSchedule(ctx, rt, o, t.(trigger.Schedule))
}

func (scheduleKind) del(ctx context.Context, f *function, rt *routeTriggers, o *owned) error {
	return f.deleteSchedule(ctx, o.schedule)
}

func scheduleNeedsRole(key string) string {
	return fmt.Sprintf("schedule trigger %s needs the role EventBridge Scheduler assumes to invoke the function: add scheduler_role=ARN to the awslambda:// URL (or set Options.SchedulerRoleArn and SchedulerClient)", key)
}

func scheduleName(key, aliasArn string) string {
	h := sha256.Sum256([]byte(aliasArn))
	return tagPrefix + key + "-" + hex.EncodeToString(h[:4])
}

func scheduleSig(expr, tz, input, target, role string) string {
	if tz == "UTC" || tz == "Etc/UTC" {
		tz = ""
	}
	return fmt.Sprintf("schedule expr=%s tz=%s target=%s role=%s input=%q", expr, tz, target, role, input)
}

// scheduleExpression converts a portable schedule to Scheduler's syntax:
// a rate in minutes, or a six-field cron with '?' in one of the day
// fields and 1–7 (Sunday = 1) day-of-week numbers.
func scheduleExpression(s trigger.Schedule) (string, error) {
	if s.Rate != 0 {
		m := int(s.Rate / time.Minute)
		if m == 1 {
			return "rate(1 minute)", nil
		}
		return fmt.Sprintf("rate(%d minutes)", m), nil
	}
	fs := strings.Fields(s.Cron)
	if len(fs) != 5 {
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("schedule trigger %s: cron %q: use five fields", s.Key, s.Cron))
	}
	dom, dow := fs[2], mapDow(fs[4], func(n int) int { return n%7 + 1 })
	switch {
	case dom == "*" && dow == "*":
		dow = "?"
	case dom == "*":
		dom = "?"
	case dow == "*":
		dow = "?"
	default:
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("schedule trigger %s: cron %q restricts both day of month and day of week, which EventBridge Scheduler cannot express: set one of them to *", s.Key, s.Cron))
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", fs[0], fs[1], dom, fs[3], dow), nil
}

// mapDow renumbers the numeric days in a day-of-week field.
func mapDow(field string, conv func(int) int) string {
	if field == "*" || field == "?" {
		return field
	}
	items := strings.Split(field, ",")
	for i, it := range items {
		base, step, hasStep := strings.Cut(it, "/")
		parts := strings.Split(base, "-")
		for j, p := range parts {
			if n, err := strconv.Atoi(p); err == nil {
				parts[j] = strconv.Itoa(conv(n))
			}
		}
		items[i] = strings.Join(parts, "-")
		if hasStep {
			items[i] += "/" + step
		}
	}
	return strings.Join(items, ",")
}

// portableSchedule converts Scheduler's expression back (best effort).
func portableSchedule(key, expr, tz, input string) trigger.Schedule {
	s := trigger.Schedule{Key: key, TimeZone: tz}
	if tz == "UTC" || tz == "Etc/UTC" {
		s.TimeZone = ""
	}
	if input != "" {
		s.Payload = []byte(input)
	}
	if inner, ok := strings.CutPrefix(expr, "rate("); ok {
		var n int
		var unit string
		fmt.Sscanf(strings.TrimSuffix(inner, ")"), "%d %s", &n, &unit)
		d := time.Minute
		switch strings.TrimSuffix(unit, "s") {
		case "hour":
			d = time.Hour
		case "day":
			d = 24 * time.Hour
		}
		s.Rate = time.Duration(n) * d
		return s
	}
	fs := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(expr, "cron("), ")"))
	if len(fs) >= 5 {
		for i := range fs {
			if fs[i] == "?" {
				fs[i] = "*"
			}
		}
		fs[4] = mapDow(fs[4], func(n int) int { return (n + 6) % 7 })
		s.Cron = strings.Join(fs[:5], " ")
	}
	return s
}

func (f *function) readSchedules(ctx context.Context, rt *routeTriggers) error {
	sc := f.sched
	p := scheduler.NewListSchedulesPaginator(sc, &scheduler.ListSchedulesInput{NamePrefix: aws.String(tagPrefix), GroupName: aws.String(f.opts.ScheduleGroup)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*scheduler.ListSchedulesOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return err
		}
		for _, sum := range page.Schedules {
			if sum.Target == nil || aws.ToString(sum.Target.Arn) != rt.aliasArn {
				continue
			}
			name := aws.ToString(sum.Name)
			key := strings.TrimPrefix(name, tagPrefix)
			i := strings.LastIndex(key, "-")
			if i < 0 || scheduleName(key[:i], rt.aliasArn) != name {
				continue
			}
			key = key[:i]
			got, err := do(ctx, f, "GetSchedule", func(ctx context.Context) (*scheduler.GetScheduleOutput, error) {
				return sc.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup)})
			})
			if err != nil {
				return err
			}
			expr, tz := aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone)
			var input, role string
			if got.Target != nil {
				input, role = aws.ToString(got.Target.Input), aws.ToString(got.Target.RoleArn)
			}
			rt.owned[key] = &owned{key: key, kind: trigger.KindSchedule, schedule: name, trigger: portableSchedule(key, expr, tz, input),
				sig: scheduleSig(expr, tz, input, rt.aliasArn, role)}
		}
	}
	return nil
}

func (f *function) putSchedule(ctx context.Context, rt *routeTriggers, o *owned, t trigger.Schedule) error {
	expr, err := scheduleExpression(t)
	if err != nil {
		return err
	}
	name := scheduleName(t.Key, rt.aliasArn)
	target := &schtypes.Target{Arn: aws.String(rt.aliasArn), RoleArn: aws.String(f.opts.SchedulerRoleArn)}
	if len(t.Payload) > 0 {
		target.Input = aws.String(string(t.Payload))
	}
	desc := fmt.Sprintf("updraft trigger %s of %s", t.Key, rt.aliasArn)
	if len(desc) > 512 {
		desc = desc[:512]
	}
	sc := f.sched
	return f.retry(ctx, "PutSchedule", nil, func(ctx context.Context) error {
		var err error
		if o == nil {
			_, err = sc.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup),
				ScheduleExpression: aws.String(expr), ScheduleExpressionTimezone: str(t.TimeZone), Description: aws.String(desc),
				FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}, Target: target})
		} else {
			_, err = sc.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup),
				ScheduleExpression: aws.String(expr), ScheduleExpressionTimezone: str(t.TimeZone), Description: aws.String(desc),
				FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}, Target: target})
		}
		return err
	})
}

func (f *function) deleteSchedule(ctx context.Context, name string) error {
	err := f.retry(ctx, "DeleteSchedule", nil, func(ctx context.Context) error {
		_, err := f.sched.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup)})
		return err
	})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil
	}
	return err
}
