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

// inBinding is an input binding of type typ named name, with more
// key/value fields.
func inBinding(typ, name string, kv ...any) map[string]any {
	m := map[string]any{"type": typ, "direction": "in", "name": name}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func functionJSON(bs ...map[string]any) []byte { return marshal(map[string]any{"bindings": bs}) }

// triggerBinding maps one portable trigger to its function.json.
func triggerBinding(t trigger.Trigger) (*binding, error) {
	switch t := t.(type) {
	case trigger.HTTP:
		return httpBinding(t)
	case trigger.Queue:
		if rest, ok := strings.CutPrefix(t.Source, "servicebus:"); ok {
			return serviceBusBinding(t, rest)
		}
		return queueBinding(t)
	case trigger.Stream:
		return cosmosBinding(t)
	case trigger.Schedule:
		return timerBinding(t)
	case trigger.Storage:
		return blobBinding(t)
	}
	return nil, unimplemented("trigger %q of kind %s is not supported on Azure Functions", t.TriggerKey(), t.Kind())
}

func httpBinding(t trigger.HTTP) (*binding, error) {
	if len(t.CORSOrigins) > 0 {
		return nil, unimplemented("http trigger %q: CORS origins: Flex Consumption has no CORS and updraft does not manage Premium's; set them on the app", t.Key)
	}
	auth := "function"
	if t.Auth == trigger.AuthNone {
		auth = "anonymous"
	}
	return &binding{json: functionJSON(
		inBinding("httpTrigger", "req", "authLevel", auth, "methods", []string{"get", "post", "put", "patch", "delete", "head", "options"}, "route", "{*path}"),
		map[string]any{"type": "http", "direction": "out", "name": "res"})}, nil
}

func serviceBusBinding(t trigger.Queue, rest string) (*binding, error) {
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return nil, invalid("queue trigger %q: source %q: write servicebus:NAMESPACE/QUEUE or servicebus:NAMESPACE/TOPIC/SUBSCRIPTION", t.Key, t.Source)
	}
	conn := settingPrefix(t.Key, "SB")
	b := inBinding("serviceBusTrigger", "msg", "connection", conn)
	if len(parts) == 2 {
		b["queueName"] = parts[1]
	} else {
		b["topicName"], b["subscriptionName"] = parts[1], parts[2]
	}
	return &binding{json: functionJSON(b), settings: map[string]string{conn + "__fullyQualifiedNamespace": parts[0] + ".servicebus.windows.net"}}, nil
}

// storageConnection is the connection of a storage trigger on "NAME"
// (host storage) or "ACCOUNT/NAME", and the settings an account needs.
func storageConnection(key, kind, source string, services ...string) (conn, name string, settings map[string]string, ok bool) {
	account, name, hasAccount := strings.Cut(source, "/")
	if !hasAccount {
		name, account = account, ""
	}
	if name == "" || strings.Contains(name, "/") {
		return "", "", nil, false
	}
	if account == "" {
		return "AzureWebJobsStorage", name, nil, true
	}
	conn = settingPrefix(key, kind)
	settings = map[string]string{}
	for _, svc := range services {
		settings[conn+"__"+svc+"ServiceUri"] = "https://" + account + "." + svc + ".core.windows.net"
	}
	return conn, name, settings, true
}

func queueBinding(t trigger.Queue) (*binding, error) {
	conn, queue, settings, ok := storageConnection(t.Key, "QUEUE", t.Source, "queue")
	if !ok {
		return nil, invalid("queue trigger %q: source %q: write QUEUE (host storage), ACCOUNT/QUEUE or servicebus:NAMESPACE/QUEUE", t.Key, t.Source)
	}
	return &binding{json: functionJSON(inBinding("queueTrigger", "msg", "queueName", queue, "connection", conn)), settings: settings}, nil
}

func cosmosBinding(t trigger.Stream) (*binding, error) {
	rest, ok := strings.CutPrefix(t.Source, "cosmos:")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || slices.Contains(parts, "") {
		return nil, invalid("stream trigger %q: source %q: Azure streams are Cosmos DB change feeds: write cosmos:ACCOUNT/DATABASE/CONTAINER", t.Key, t.Source)
	}
	if t.BisectOnError {
		return nil, invalid("stream trigger %q: BisectOnError: the Cosmos DB trigger has no way to split a failed batch (a retry policy runs the whole batch again): leave it false", t.Key)
	}
	conn := settingPrefix(t.Key, "COSMOS")
	b := inBinding("cosmosDBTrigger", "documents", "connection", conn, "databaseName", parts[1], "containerName", parts[2],
		"leaseContainerName", "leases", "leaseContainerPrefix", t.Key+"-", "createLeaseContainerIfNotExists", true)
	if t.StartingPosition == trigger.StartTrimHorizon {
		b["startFromBeginning"] = true
	}
	if t.BatchSize > 0 {
		b["maxItemsPerInvocation"] = t.BatchSize
	}
	fj := map[string]any{"bindings": []map[string]any{b}}
	if t.MaxRetries != nil && *t.MaxRetries > 0 {
		fj["retry"] = map[string]any{"strategy": "fixedDelay", "maxRetryCount": *t.MaxRetries, "delayInterval": cosmosRetryDelay}
	}
	return &binding{json: marshal(fj), settings: map[string]string{conn + "__accountEndpoint": "https://" + parts[0] + ".documents.azure.com:443/"}}, nil
}

// cosmosRetryDelay is the fixed delay between the retries of a Cosmos DB
// trigger's retry policy. The lease is not checkpointed while a batch is
// retried, so the partition waits MaxRetries × this at most.
const cosmosRetryDelay = "00:00:10"

func timerBinding(t trigger.Schedule) (*binding, error) {
	if t.TimeZone != "" && t.TimeZone != "UTC" {
		return nil, unimplemented("schedule trigger %q: time zone %s: Azure timer triggers on Flex run in UTC; write the cron in UTC", t.Key, t.TimeZone)
	}
	if len(t.Payload) > 0 {
		return nil, unimplemented("schedule trigger %q: Azure timer triggers carry no payload", t.Key)
	}
	sched, err := ncrontab(t)
	if err != nil {
		return nil, err
	}
	return &binding{json: functionJSON(inBinding("timerTrigger", "timer", "schedule", sched))}, nil
}

func blobBinding(t trigger.Storage) (*binding, error) {
	for _, e := range t.Events {
		if e != trigger.ObjectCreated {
			return nil, unimplemented("storage trigger %q: event %s: Azure blob triggers fire on created or updated blobs only", t.Key, e)
		}
	}
	conn, ctr, settings, ok := storageConnection(t.Key, "BLOB", t.Bucket, "blob", "queue")
	if !ok {
		return nil, invalid("storage trigger %q: bucket %q: write CONTAINER (host storage) or ACCOUNT/CONTAINER", t.Key, t.Bucket)
	}
	path := ctr + "/" + t.Prefix + "{name}" + t.Suffix
	return &binding{json: functionJSON(inBinding("blobTrigger", "blob", "path", path, "connection", conn, "source", "EventGrid")), settings: settings}, nil
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
