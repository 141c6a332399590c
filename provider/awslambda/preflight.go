package awslambda

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// knownRegions are the regions Lambda runs in. A client with its own
// BaseEndpoint (an emulator, a fake) may use any region name.
var knownRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
	"eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
	"us-west-2", "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1", "eusc-de-east-1",
}

// envNameRE is envRules' name pattern, anchored.
var envNameRE = regexp.MustCompile(`^(?:` + envRules.NamePattern + `)$`)

// checkSpec reports, without any call, what Lambda or this handle's
// settings would refuse in s: the region, environment names and values
// (Capabilities.Env has the same rules, so the portable validation
// normally reports them first), secrets that are not ARNs, queue and
// stream sources that are not SQS, Kinesis or DynamoDB stream ARNs,
// triggers that need a setting the handle lacks (scheduler_role, an S3
// client), code over the inline limit without code_bucket, and — when
// creating is true, because the function does not exist — a missing
// execution role or code. It returns an InvalidArgument *driver.Error
// listing every problem, or nil.
func (f *function) checkSpec(s *driver.Spec, creating bool) error {
	probs := f.specProblems(s)
	if creating {
		probs = append(probs, f.createProblems(s)...)
	}
	if len(probs) == 0 {
		return nil
	}
	return driver.NewError(driver.InvalidArgument, fmt.Sprintf("awslambda://%s: %s", f.name, strings.Join(probs, "; ")))
}

// CheckSpec implements driver.SpecChecker, so the portable Validate and
// Plan report these problems: checkSpec without the create problems,
// which need the read that finds the function missing.
func (f *function) CheckSpec(s *driver.Spec) error { return f.checkSpec(s, false) }

// preflight is Apply's checkSpec: creation problems are checked here only
// for a create-only Apply, and otherwise once GetFunction says NotFound.
func (f *function) preflight(s *driver.Spec, createOnly bool) error {
	return f.checkSpec(s, createOnly)
}

func (f *function) checkCreate(s *driver.Spec) error {
	if probs := f.createProblems(s); len(probs) > 0 {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("awslambda://%s: %s", f.name, strings.Join(probs, "; ")))
	}
	return nil
}

func (f *function) specProblems(s *driver.Spec) []string {
	var probs []string
	o := f.client.Options()
	if aws.ToString(o.BaseEndpoint) == "" && !slices.Contains(knownRegions, o.Region) {
		if o.Region == "" {
			probs = append(probs, "no AWS region: add region=REGION to the URL or set AWS_REGION")
		} else {
			probs = append(probs, fmt.Sprintf("region %q is not an AWS region Lambda runs in (such as us-east-1 or eu-west-1): check the URL's region= parameter", o.Region))
		}
	}
	probs = append(probs, envProblems(s)...)
	if err := checkSecrets(s.Secrets); err != nil {
		probs = append(probs, err.Error())
	}
	for _, t := range s.Triggers {
		switch t.Kind() {
		case trigger.KindQueue, trigger.KindStream:
			if _, err := (esmKind{}).sig(f, nil, t); err != nil {
				probs = append(probs, err.Error())
			}
		case trigger.KindSchedule:
			if f.sched == nil || f.opts.SchedulerRoleArn == "" {
				probs = append(probs, scheduleNeedsRole(t.TriggerKey()))
			}
		case trigger.KindStorage:
			if f.s3 == nil {
				probs = append(probs, storageNeedsS3(t.TriggerKey()))
			}
		}
	}
	if b := s.Bundle; b != nil && b.Size > f.opts.maxDirectUpload && (f.s3 == nil || f.opts.CodeBucket == "") {
		probs = append(probs, fmt.Sprintf("the code is %.1f MB, over the %d MB Lambda takes inline: add code_bucket=BUCKET (an S3 bucket in the same region) to the URL, or set Options.CodeBucket and S3Client",
			float64(b.Size)/(1<<20), f.opts.maxDirectUpload>>20))
	}
	return probs
}

func envProblems(s *driver.Spec) []string {
	var probs []string
	all := map[string]string{}
	maps.Copy(all, s.Env)
	maps.Copy(all, s.Secrets)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		switch {
		case !envNameRE.MatchString(k):
			probs = append(probs, fmt.Sprintf("environment variable %q: Lambda takes names of letters, digits and '_' starting with a letter", k))
		case slices.Contains(envRules.ReservedNames, k):
			probs = append(probs, fmt.Sprintf("environment variable %s is reserved: the Lambda runtime sets it", k))
		case strings.ContainsRune(all[k], 0):
			probs = append(probs, fmt.Sprintf("environment variable %s: the value contains a NUL byte", k))
		}
	}
	if v := secretsValue(s.Secrets); len(v) > 256 {
		probs = append(probs, fmt.Sprintf("the names of the %d secrets take %d characters; updraft records them in a 256-character tag: use fewer or shorter names", len(s.Secrets), len(v)))
	}
	return probs
}

func (f *function) createProblems(s *driver.Spec) []string {
	var probs []string
	if s.Bundle == nil {
		probs = append(probs, "the function does not exist and the spec has no code: set Spec.Code to create it")
	}
	if s.Identity == "" && f.opts.DefaultRole == "" {
		probs = append(probs, "the function does not exist and creating it needs an execution role: set Spec.Identity to the role ARN or add role=ARN to the awslambda:// URL")
	}
	if handlerFor(s) == "" {
		probs = append(probs, fmt.Sprintf("runtime %s needs an Entrypoint (the handler, such as index.handler)", s.Runtime))
	}
	return probs
}
