package azurefunctions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// handlerBinary is the custom handler executable's name in the package.
const handlerBinary = "handler"

type customHandler struct {
	Description struct {
		DefaultExecutablePath string `json:"defaultExecutablePath"`
	} `json:"description"`
	EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
}

type hostJSON struct {
	Version         string         `json:"version"`
	CustomHandler   customHandler  `json:"customHandler"`
	Extensions      map[string]any `json:"extensions"`
	ExtensionBundle map[string]any `json:"extensionBundle"`
	FunctionTimeout string         `json:"functionTimeout"`
}

// functionTimeout formats d as a .NET TimeSpan ("hh:mm:ss", days as "d.").
func functionTimeout(d time.Duration) string {
	s := int64(d / time.Second)
	days, h, m, sec := s/86400, (s/3600)%24, (s/60)%60, s%60
	if days > 0 {
		return fmt.Sprintf("%d.%02d:%02d:%02d", days, h, m, sec)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
}

// settingPrefix is the app-setting prefix of trigger key's connection.
func settingPrefix(key, kind string) string {
	return "UPDRAFT_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_")) + "_" + kind
}

// binding is one trigger's function.json and the app settings its
// connection needs (identity-based references to the resource, never a
// connection string or key).
type binding struct {
	json     []byte
	settings map[string]string
}

func marshal(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only maps and structs of plain values
	}
	return append(b, '\n')
}

func unimplemented(format string, args ...any) error {
	return driver.NewError(driver.Unimplemented, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return driver.NewError(driver.InvalidArgument, fmt.Sprintf(format, args...))
}

// triggerBinding maps one portable trigger to its function.json.
func triggerBinding(t trigger.Trigger) (*binding, error) {
	key := t.TriggerKey()
	in := func(typ, name string, kv ...any) map[string]any {
		m := map[string]any{"type": typ, "direction": "in", "name": name}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	doc := func(bs ...map[string]any) []byte { return marshal(map[string]any{"bindings": bs}) }
	switch t := t.(type) {
	case trigger.HTTP:
		if len(t.CORSOrigins) > 0 {
			return nil, unimplemented("http trigger %q: CORS origins: Flex Consumption has no CORS and updraft does not manage Premium's; set them on the app", key)
		}
		auth := "function"
		if t.Auth == trigger.AuthNone {
			auth = "anonymous"
		}
		return &binding{json: doc(
			in("httpTrigger", "req", "authLevel", auth, "methods", []string{"get", "post", "put", "patch", "delete", "head", "options"}, "route", "{*path}"),
			map[string]any{"type": "http", "direction": "out", "name": "res"})}, nil
	case trigger.Queue:
		if rest, ok := strings.CutPrefix(t.Source, "servicebus:"); ok {
			parts := strings.Split(rest, "/")
			if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
				return nil, invalid("queue trigger %q: source %q: write servicebus:NAMESPACE/QUEUE or servicebus:NAMESPACE/TOPIC/SUBSCRIPTION", key, t.Source)
			}
			conn := settingPrefix(key, "SB")
			b := in("serviceBusTrigger", "msg", "connection", conn)
			if len(parts) == 2 {
				b["queueName"] = parts[1]
			} else {
				b["topicName"], b["subscriptionName"] = parts[1], parts[2]
			}
			return &binding{json: doc(b), settings: map[string]string{conn + "__fullyQualifiedNamespace": parts[0] + ".servicebus.windows.net"}}, nil
		}
		account, queue, hasAccount := strings.Cut(t.Source, "/")
		if !hasAccount {
			queue, account = account, ""
		}
		if queue == "" || strings.Contains(queue, "/") {
			return nil, invalid("queue trigger %q: source %q: write QUEUE (host storage), ACCOUNT/QUEUE or servicebus:NAMESPACE/QUEUE", key, t.Source)
		}
		conn, settings := "AzureWebJobsStorage", map[string]string(nil)
		if account != "" {
			conn = settingPrefix(key, "QUEUE")
			settings = map[string]string{conn + "__queueServiceUri": "https://" + account + ".queue.core.windows.net"}
		}
		return &binding{json: doc(in("queueTrigger", "msg", "queueName", queue, "connection", conn)), settings: settings}, nil
	case trigger.Stream:
		rest, ok := strings.CutPrefix(t.Source, "cosmos:")
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 3 || slices.Contains(parts, "") {
			return nil, invalid("stream trigger %q: source %q: Azure streams are Cosmos DB change feeds: write cosmos:ACCOUNT/DATABASE/CONTAINER", key, t.Source)
		}
		conn := settingPrefix(key, "COSMOS")
		b := in("cosmosDBTrigger", "documents", "connection", conn, "databaseName", parts[1], "containerName", parts[2],
			"leaseContainerName", "leases", "leaseContainerPrefix", key+"-", "createLeaseContainerIfNotExists", true)
		if t.StartingPosition == trigger.StartTrimHorizon {
			b["startFromBeginning"] = true
		}
		if t.BatchSize > 0 {
			b["maxItemsPerInvocation"] = t.BatchSize
		}
		return &binding{json: doc(b), settings: map[string]string{conn + "__accountEndpoint": "https://" + parts[0] + ".documents.azure.com:443/"}}, nil
	case trigger.Schedule:
		if t.TimeZone != "" && t.TimeZone != "UTC" {
			return nil, unimplemented("schedule trigger %q: time zone %s: Azure timer triggers on Flex run in UTC; write the cron in UTC", key, t.TimeZone)
		}
		if len(t.Payload) > 0 {
			return nil, unimplemented("schedule trigger %q: Azure timer triggers carry no payload", key)
		}
		sched, err := ncrontab(t)
		if err != nil {
			return nil, err
		}
		return &binding{json: doc(in("timerTrigger", "timer", "schedule", sched))}, nil
	case trigger.Storage:
		for _, e := range t.Events {
			if e != trigger.ObjectCreated {
				return nil, unimplemented("storage trigger %q: event %s: Azure blob triggers fire on created or updated blobs only", key, e)
			}
		}
		account, ctr, hasAccount := strings.Cut(t.Bucket, "/")
		if !hasAccount {
			ctr, account = account, ""
		}
		if ctr == "" || strings.Contains(ctr, "/") {
			return nil, invalid("storage trigger %q: bucket %q: write CONTAINER (host storage) or ACCOUNT/CONTAINER", key, t.Bucket)
		}
		conn, settings := "AzureWebJobsStorage", map[string]string(nil)
		if account != "" {
			conn = settingPrefix(key, "BLOB")
			settings = map[string]string{conn + "__blobServiceUri": "https://" + account + ".blob.core.windows.net",
				conn + "__queueServiceUri": "https://" + account + ".queue.core.windows.net"}
		}
		path := ctr + "/" + t.Prefix + "{name}" + t.Suffix
		return &binding{json: doc(in("blobTrigger", "blob", "path", path, "connection", conn, "source", "EventGrid")), settings: settings}, nil
	}
	return nil, unimplemented("trigger %q of kind %s is not supported on Azure Functions", key, t.Kind())
}

// ncrontab turns a portable schedule into Azure's six-field NCRONTAB.
func ncrontab(t trigger.Schedule) (string, error) {
	if t.Cron != "" {
		return "0 " + t.Cron, nil
	}
	m := int(t.Rate / time.Minute)
	switch {
	case m < 60 && 60%m == 0:
		return fmt.Sprintf("0 */%d * * * *", m), nil
	case m%60 == 0 && 24%(m/60) == 0:
		return fmt.Sprintf("0 0 */%d * * *", m/60), nil
	}
	return "", invalid("schedule trigger %q: rate %s: Azure timers take a cron; use a rate that divides an hour or a day, or a Cron", t.Key, t.Rate)
}

// generated returns the files compiled into the package (host.json and
// one KEY/function.json per trigger) and the app settings the triggers'
// connections need.
func generated(timeout time.Duration, ts []trigger.Trigger) (map[string][]byte, map[string]string, error) {
	h := hostJSON{Version: "2.0", FunctionTimeout: functionTimeout(timeout),
		Extensions:      map[string]any{"http": map[string]any{"routePrefix": ""}},
		ExtensionBundle: map[string]any{"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}}
	h.CustomHandler.Description.DefaultExecutablePath = handlerBinary
	h.CustomHandler.EnableForwardingHTTPRequest = true
	files := map[string][]byte{"host.json": marshal(h)}
	settings := map[string]string{}
	nHTTP := 0
	for _, t := range ts {
		if t.Kind() == trigger.KindHTTP {
			if nHTTP++; nHTTP > 1 {
				return nil, nil, invalid("http trigger %q: an Azure function app serves one HTTP trigger (route {*path}); keep one", t.TriggerKey())
			}
		}
		b, err := triggerBinding(t)
		if err != nil {
			return nil, nil, err
		}
		files[t.TriggerKey()+"/function.json"] = b.json
		for k, v := range b.settings {
			settings[k] = v
		}
	}
	return files, settings, nil
}

// buildPackage adds the generated files to the code bundle, giving the
// reproducible zip that is deployed.
func buildPackage(ctx context.Context, code *bundle.Bundle, extra map[string][]byte, limits bundle.Limits) (*bundle.Bundle, error) {
	path := code.Path
	if path == "" {
		b, err := code.Bytes()
		if err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp("", "updraft-azure-*.zip")
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(b); err != nil {
			tmp.Close()
			return nil, err
		}
		if err := tmp.Close(); err != nil {
			return nil, err
		}
		path = tmp.Name()
	}
	return bundle.Build(ctx, bundle.Zip(path), &bundle.Options{Form: bundle.Form{Extra: extra}, Limits: limits, NoCache: code.Path == ""})
}

// sameFiles reports whether two generated file sets are equal.
func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
