package awslambda

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// HTTP: function URLs. A read costs GetPolicy (shared with storage) and
// GetFunctionUrlConfig; a new public URL CreateFunctionUrlConfig and two
// AddPermission (its ownership tag goes with the kinds index).

type urlKind struct{}

func (urlKind) usesPolicy() bool { return true }

func (urlKind) read(ctx context.Context, f *function, rt *routeTriggers) error {
	key, ok := rt.tags[urlTag(rt.route)]
	if !ok {
		return nil
	}
	return f.readURL(ctx, rt, key)
}

func (urlKind) sig(f *function, rt *routeTriggers, t trigger.Trigger) (string, error) {
	v := t.(trigger.HTTP)
	return httpSig(authType(v.Auth), v.CORSOrigins, true), nil
}

func (urlKind) put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	return f.putURL(ctx, rt, o, t.(trigger.HTTP))
}

func (urlKind) del(ctx context.Context, f *function, rt *routeTriggers, o *owned) error {
	return f.deleteURL(ctx, rt, o.key)
}

func authType(a trigger.AuthMode) types.FunctionUrlAuthType {
	if a == trigger.AuthNone {
		return types.FunctionUrlAuthTypeNone
	}
	return types.FunctionUrlAuthTypeAwsIam
}

func httpSig(auth types.FunctionUrlAuthType, origins []string, permsOK bool) string {
	o := slices.Clone(origins)
	slices.Sort(o)
	return fmt.Sprintf("http auth=%s cors=%s perms=%v", auth, strings.Join(o, ","), permsOK)
}

func urlSids(key string) (urlSid, invokeSid string) {
	return tagPrefix + key + "-url", tagPrefix + key + "-invoke"
}

func (f *function) readURL(ctx context.Context, rt *routeTriggers, key string) error {
	u, err := do(ctx, f, "GetFunctionUrlConfig", func(ctx context.Context) (*lambda.GetFunctionUrlConfigOutput, error) {
		return f.client.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route)})
	})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil
	}
	if err != nil {
		return err
	}
	t := trigger.HTTP{Key: key, Auth: trigger.AuthIAM}
	if u.AuthType == types.FunctionUrlAuthTypeNone {
		t.Auth = trigger.AuthNone
	}
	if u.Cors != nil && len(u.Cors.AllowOrigins) > 0 {
		t.CORSOrigins = slices.Clone(u.Cors.AllowOrigins)
	}
	us, is := urlSids(key)
	_, hasURL := rt.policy[us]
	_, hasInvoke := rt.policy[is]
	permsOK := hasURL && hasInvoke
	if u.AuthType != types.FunctionUrlAuthTypeNone {
		permsOK = !hasURL && !hasInvoke
	}
	rt.owned[key] = &owned{key: key, kind: trigger.KindHTTP, trigger: trigger.Normalize(t), endpoint: aws.ToString(u.FunctionUrl),
		sig: httpSig(u.AuthType, t.CORSOrigins, permsOK)}
	return nil
}

func cors(origins []string) *types.Cors {
	if len(origins) == 0 {
		return &types.Cors{}
	}
	return &types.Cors{AllowOrigins: origins, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}
}

func (f *function) putURL(ctx context.Context, rt *routeTriggers, o *owned, t trigger.HTTP) error {
	auth := authType(t.Auth)
	if o == nil {
		// Ownership is recorded first (the reconcile wrote the URL tag with
		// the kinds index), so a failure below leaves something the next
		// Apply recognises and finishes.
		if rt.tags[urlTag(rt.route)] != t.Key {
			if err := f.tagFunction(ctx, rt, map[string]string{urlTag(rt.route): t.Key}); err != nil {
				return err
			}
		}
		err := f.retry(ctx, "CreateFunctionUrlConfig", nil, func(ctx context.Context) error {
			_, err := f.client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String(f.name),
				Qualifier: aws.String(rt.route), AuthType: auth, Cors: cors(t.CORSOrigins)})
			return err
		})
		if errorCode(err) == driver.AlreadyExists {
			return driver.NewError(driver.AlreadyExists, fmt.Sprintf("http trigger %s: route %s of %s already has a function URL that updraft did not create: delete it or leave Triggers nil", t.Key, rt.route, f.name))
		}
		if err != nil {
			return err
		}
	} else {
		err := f.retry(ctx, "UpdateFunctionUrlConfig", nil, func(ctx context.Context) error {
			_, err := f.client.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String(f.name),
				Qualifier: aws.String(rt.route), AuthType: auth, Cors: cors(t.CORSOrigins)})
			return err
		})
		if err != nil {
			return err
		}
	}
	us, is := urlSids(t.Key)
	if auth == types.FunctionUrlAuthTypeNone {
		// A public URL needs both statements: InvokeFunctionUrl, and (for
		// URLs created since October 2025) InvokeFunction via the URL.
		if err := f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(us), Action: aws.String("lambda:InvokeFunctionUrl"),
			Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeNone}); err != nil {
			return err
		}
		return f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(is), Action: aws.String("lambda:InvokeFunction"),
			Principal: aws.String("*"), InvokedViaFunctionUrl: aws.Bool(true)})
	}
	if err := f.removePermission(ctx, rt, us); err != nil {
		return err
	}
	return f.removePermission(ctx, rt, is)
}

func (f *function) deleteURL(ctx context.Context, rt *routeTriggers, key string) error {
	us, is := urlSids(key)
	if err := f.removePermission(ctx, rt, us); err != nil {
		return err
	}
	if err := f.removePermission(ctx, rt, is); err != nil {
		return err
	}
	err := f.retry(ctx, "DeleteFunctionUrlConfig", nil, func(ctx context.Context) error {
		_, err := f.client.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route)})
		return err
	})
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return err
	}
	err = f.retry(ctx, "UntagResource", nil, func(ctx context.Context) error {
		_, err := f.client.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(rt.fnArn), TagKeys: []string{urlTag(rt.route)}})
		return err
	})
	if err == nil {
		delete(rt.tags, urlTag(rt.route))
	}
	return err
}
