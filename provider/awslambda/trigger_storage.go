package awslambda

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Storage: an entry in the S3 bucket's notification configuration plus
// the s3.amazonaws.com permission. A read costs GetPolicy (shared with
// HTTP) plus GetBucketNotificationConfiguration per bucket; a new one
// AddPermission, GetBucketNotificationConfiguration and
// PutBucketNotificationConfiguration (S3 replaces the whole document, so
// other tools' entries are read and written back).

type storageKind struct{}

func (storageKind) usesPolicy() bool { return true }

func (storageKind) read(ctx context.Context, f *function, rt *routeTriggers) error {
	if f.s3 == nil {
		return nil
	}
	return f.readStorage(ctx, rt)
}

func (storageKind) sig(f *function, rt *routeTriggers, t trigger.Trigger) (string, error) {
	v := t.(trigger.Storage)
	if f.s3 == nil {
		return "", driver.NewError(driver.InvalidArgument, storageNeedsS3(v.Key))
	}
	return storageSig(v.Bucket, s3Events(v.Events), v.Prefix, v.Suffix, true), nil
}

func (storageKind) put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	return f.putStorage(ctx, rt, o, t.(trigger.Storage))
}

func (storageKind) del(ctx context.Context, f *function, rt *routeTriggers, o *owned) error {
	return f.deleteStorage(ctx, rt, o)
}

func storageNeedsS3(key string) string {
	return fmt.Sprintf("storage trigger %s needs an S3 client: set Options.S3Client (URLs opened with provider.Open have one)", key)
}

func s3Sid(key string) string { return tagPrefix + key + "-s3" }

func (f *function) storageID(route, key string) string {
	return tagPrefix + f.name + "-" + route + "-" + key
}

func s3Events(evs []trigger.StorageEvent) []string {
	var out []string
	for _, e := range evs {
		switch e {
		case trigger.ObjectCreated:
			out = append(out, "s3:ObjectCreated:*")
		case trigger.ObjectDeleted:
			out = append(out, "s3:ObjectRemoved:*")
		}
	}
	slices.Sort(out)
	return out
}

func storageSig(bucket string, events []string, prefix, suffix string, permOK bool) string {
	return fmt.Sprintf("s3 bucket=%s events=%s prefix=%q suffix=%q perm=%v", bucket, strings.Join(events, ","), prefix, suffix, permOK)
}

func (f *function) readStorage(ctx context.Context, rt *routeTriggers) error {
	configs := map[string]*s3.GetBucketNotificationConfigurationOutput{}
	for _, sid := range slices.Sorted(maps.Keys(rt.policy)) {
		key, ok := strings.CutSuffix(strings.TrimPrefix(sid, tagPrefix), "-s3")
		if !ok || !strings.HasPrefix(sid, tagPrefix) {
			continue
		}
		bucket := strings.TrimPrefix(rt.policy[sid].sourceArn(), "arn:aws:s3:::")
		o := &owned{key: key, kind: trigger.KindStorage, bucket: bucket}
		rt.owned[key] = o
		if bucket == "" {
			continue
		}
		cfg := configs[bucket]
		if cfg == nil {
			var err error
			cfg, err = do(ctx, f, "GetBucketNotificationConfiguration", func(ctx context.Context) (*s3.GetBucketNotificationConfigurationOutput, error) {
				return f.s3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
			})
			if apiCode(err) == "NoSuchBucket" {
				continue
			}
			if err != nil {
				return err
			}
			configs[bucket] = cfg
		}
		for _, lc := range cfg.LambdaFunctionConfigurations {
			if aws.ToString(lc.Id) != f.storageID(rt.route, key) || aws.ToString(lc.LambdaFunctionArn) != rt.aliasArn {
				continue
			}
			t := trigger.Storage{Key: key, Bucket: bucket}
			var events []string
			for _, e := range lc.Events {
				events = append(events, string(e))
				switch e {
				case "s3:ObjectCreated:*":
					t.Events = append(t.Events, trigger.ObjectCreated)
				case "s3:ObjectRemoved:*":
					t.Events = append(t.Events, trigger.ObjectDeleted)
				}
			}
			slices.Sort(events)
			if lc.Filter != nil && lc.Filter.Key != nil {
				for _, r := range lc.Filter.Key.FilterRules {
					switch strings.ToLower(string(r.Name)) {
					case "prefix":
						t.Prefix = aws.ToString(r.Value)
					case "suffix":
						t.Suffix = aws.ToString(r.Value)
					}
				}
			}
			o.trigger = trigger.Normalize(t)
			o.sig = storageSig(bucket, events, t.Prefix, t.Suffix, true)
		}
	}
	return nil
}

// editNotifications reads a bucket's notification configuration, removes
// the entry id, adds add (when non-nil) and writes it back whole, keeping
// every other entry (S3 replaces the configuration on each PUT).
func (f *function) editNotifications(ctx context.Context, bucket, id string, add *s3types.LambdaFunctionConfiguration) error {
	return f.retry(ctx, "PutBucketNotificationConfiguration", nil, func(ctx context.Context) error {
		cur, err := do(ctx, f, "GetBucketNotificationConfiguration", func(ctx context.Context) (*s3.GetBucketNotificationConfigurationOutput, error) {
			return f.s3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
		})
		if err != nil {
			return err
		}
		lcs := slices.DeleteFunc(slices.Clone(cur.LambdaFunctionConfigurations), func(c s3types.LambdaFunctionConfiguration) bool { return aws.ToString(c.Id) == id })
		if add != nil {
			lcs = append(lcs, *add)
		}
		_, err = f.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(bucket),
			NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: lcs, QueueConfigurations: cur.QueueConfigurations,
				TopicConfigurations: cur.TopicConfigurations, EventBridgeConfiguration: cur.EventBridgeConfiguration}})
		return err
	})
}

func (f *function) putStorage(ctx context.Context, rt *routeTriggers, o *owned, t trigger.Storage) error {
	if o != nil && o.bucket != t.Bucket {
		if err := f.deleteStorage(ctx, rt, o); err != nil {
			return err
		}
	}
	account := ""
	if parts := strings.Split(rt.fnArn, ":"); len(parts) > 4 {
		account = parts[4]
	}
	// S3 validates the destination when the configuration is written, so
	// the permission comes first.
	if err := f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(s3Sid(t.Key)), Action: aws.String("lambda:InvokeFunction"),
		Principal: aws.String("s3.amazonaws.com"), SourceArn: aws.String("arn:aws:s3:::" + t.Bucket), SourceAccount: str(account)}); err != nil {
		return err
	}
	lc := &s3types.LambdaFunctionConfiguration{Id: aws.String(f.storageID(rt.route, t.Key)), LambdaFunctionArn: aws.String(rt.aliasArn)}
	for _, e := range s3Events(t.Events) {
		lc.Events = append(lc.Events, s3types.Event(e))
	}
	var rules []s3types.FilterRule
	if t.Prefix != "" {
		rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNamePrefix, Value: aws.String(t.Prefix)})
	}
	if t.Suffix != "" {
		rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNameSuffix, Value: aws.String(t.Suffix)})
	}
	if len(rules) > 0 {
		lc.Filter = &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: rules}}
	}
	return f.editNotifications(ctx, t.Bucket, aws.ToString(lc.Id), lc)
}

func (f *function) deleteStorage(ctx context.Context, rt *routeTriggers, o *owned) error {
	if o.bucket != "" {
		err := f.editNotifications(ctx, o.bucket, f.storageID(rt.route, o.key), nil)
		if err != nil && apiCode(err) != "NoSuchBucket" {
			return err
		}
	}
	return f.removePermission(ctx, rt, s3Sid(o.key))
}
