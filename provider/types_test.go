package provider

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// The portable types and the driver's copies are kept apart (see the
// package doc, "Types and the driver"). These tests are what keeps them in
// step: a field added on one side and not the other fails the first, and a
// field a conversion forgets fails the others.

// typePairs maps each portable type to its driver copy.
var typePairs = map[reflect.Type]reflect.Type{
	reflect.TypeFor[Config]():           reflect.TypeFor[driver.Config](),
	reflect.TypeFor[Revision]():         reflect.TypeFor[driver.Revision](),
	reflect.TypeFor[Traffic]():          reflect.TypeFor[driver.Traffic](),
	reflect.TypeFor[Marker]():           reflect.TypeFor[driver.Marker](),
	reflect.TypeFor[Verdicts]():         reflect.TypeFor[driver.Verdicts](),
	reflect.TypeFor[Provisioned]():      reflect.TypeFor[driver.Provisioned](),
	reflect.TypeFor[Route]():            reflect.TypeFor[driver.Route](),
	reflect.TypeFor[RouteUpdate]():      reflect.TypeFor[driver.RouteUpdate](),
	reflect.TypeFor[State]():            reflect.TypeFor[driver.State](),
	reflect.TypeFor[Metrics]():          reflect.TypeFor[driver.Metrics](),
	reflect.TypeFor[MetricsQuery]():     reflect.TypeFor[driver.MetricsQuery](),
	reflect.TypeFor[InvokeResult]():     reflect.TypeFor[driver.InvokeResult](),
	reflect.TypeFor[InvokeOptions]():    reflect.TypeFor[driver.InvokeRequest](),
	reflect.TypeFor[ApplyOptions]():     reflect.TypeFor[driver.ApplyOptions](),
	reflect.TypeFor[ApplyResult]():      reflect.TypeFor[driver.ApplyResult](),
	reflect.TypeFor[ConditionOptions](): reflect.TypeFor[driver.ConditionOptions](),
	reflect.TypeFor[Concurrency]():      reflect.TypeFor[driver.Concurrency](),
	reflect.TypeFor[Spec]():             reflect.TypeFor[driver.Spec](),
	reflect.TypeFor[Capabilities]():     reflect.TypeFor[driver.Capabilities](),
	reflect.TypeFor[Range]():            reflect.TypeFor[driver.Range](),
	reflect.TypeFor[EnvRules]():         reflect.TypeFor[driver.EnvRules](),
}

// renamed lists the fields that differ on purpose, portable name →
// driver name: a Spec names where its code comes from, the driver's the
// bundle built from it.
var renamed = map[string]string{"Spec.Code": "Bundle"}

func TestPortableAndDriverTypesHaveTheSameFields(t *testing.T) {
	for p, d := range typePairs {
		dfields := map[string]reflect.StructField{}
		for _, f := range reflect.VisibleFields(d) {
			dfields[f.Name] = f
		}
		for _, pf := range reflect.VisibleFields(p) {
			name := pf.Name
			r, isRenamed := renamed[p.Name()+"."+pf.Name]
			if isRenamed {
				name = r
			}
			df, ok := dfields[name]
			if !ok {
				t.Errorf("%s.%s has no counterpart in %s", p, pf.Name, d)
				continue
			}
			delete(dfields, name)
			if !isRenamed && !corresponds(pf.Type, df.Type) {
				t.Errorf("%s.%s is a %s but %s.%s is a %s", p, pf.Name, pf.Type, d, df.Name, df.Type)
			}
		}
		for name := range dfields {
			t.Errorf("%s.%s has no counterpart in %s", d, name, p)
		}
	}
}

// corresponds reports whether portable type p and driver type d are the
// same, a pair, or built alike from pairs.
func corresponds(p, d reflect.Type) bool {
	if p == d || typePairs[p] == d {
		return true
	}
	if p.Kind() != d.Kind() {
		return false
	}
	switch p.Kind() {
	case reflect.Pointer, reflect.Slice:
		return corresponds(p.Elem(), d.Elem())
	case reflect.Map:
		return p.Key() == d.Key() && corresponds(p.Elem(), d.Elem())
	}
	return false
}

func TestConversionsKeepEveryField(t *testing.T) {
	var c Config
	fill(reflect.ValueOf(&c).Elem(), new(int))
	if back := configFromDriver(configToDriver(c)); !reflect.DeepEqual(back, c) {
		t.Errorf("Config round trip:\n%+v\n%+v", c, back)
	}
	var m Marker
	fill(reflect.ValueOf(&m).Elem(), new(int))
	if back := markerFromDriver(markerToDriver(&m)); !reflect.DeepEqual(*back, m) {
		t.Errorf("Marker round trip:\n%+v\n%+v", m, *back)
	}
	var v Verdicts
	fill(reflect.ValueOf(&v).Elem(), new(int))
	if back := verdictsFromDriver(verdictsToDriver(&v)); !reflect.DeepEqual(*back, v) {
		t.Errorf("Verdicts round trip:\n%+v\n%+v", v, *back)
	}
	var caps Capabilities
	fill(reflect.ValueOf(&caps).Elem(), new(int))
	if back := capabilitiesFromDriver(DriverCapabilities(caps)); !reflect.DeepEqual(back, caps) {
		t.Errorf("Capabilities round trip:\n%+v\n%+v", caps, back)
	}

	// One way, from the driver.
	oneWay(t, func(d *driver.Revision) any { return revisionFromDriver(d) })
	oneWay(t, func(d *driver.Route) any { return routeFromDriver(d) })
	oneWay(t, func(d *driver.State) any { return stateFromDriver(d) })
	oneWay(t, func(d *driver.ApplyResult) any { return applyResultFromDriver(d) })
	oneWay(t, func(d *driver.InvokeResult) any { return invokeResultFromDriver(d) })
	oneWay(t, func(d *driver.Metrics) any { return (*Metrics)(d) })
	// One way, to the driver.
	oneWay(t, func(p *ApplyOptions) any { return applyOptionsToDriver(p) })
	oneWay(t, func(p *MetricsQuery) any { return metricsQueryToDriver(p) })
	oneWay(t, func(p *Spec) any { return toDriverSpec(p, Capabilities{}) })
}

// oneWay fills an input with a distinct value in every field, converts it
// and checks every field arrived, by name.
func oneWay[In any](t *testing.T, convert func(*In) any) {
	t.Helper()
	in := new(In)
	fill(reflect.ValueOf(in).Elem(), new(int))
	out := reflect.ValueOf(convert(in)).Elem()
	if err := sameByName(reflect.TypeFor[In]().Name(), reflect.ValueOf(in).Elem(), out); err != nil {
		t.Errorf("converting %T: %v", in, err)
	}
}

// fill sets every exported field reachable from v to a distinct non-zero
// value.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(1e9+*n), 0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint8:
		v.SetUint(uint64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), n)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		if v.Type() == reflect.TypeFor[trigger.Trigger]() {
			v.Set(reflect.ValueOf(trigger.HTTP{Key: fmt.Sprintf("k%d", *n), Auth: trigger.AuthIAM}))
		}
	case reflect.Func:
		v.Set(reflect.MakeFunc(v.Type(), func([]reflect.Value) []reflect.Value {
			panic("not called")
		}))
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// sameByName reports the first field of a whose value does not reach b,
// comparing structs field by field by name (renamed fields left out),
// functions by nil-ness, and values of one type with reflect.DeepEqual.
func sameByName(path string, a, b reflect.Value) error {
	if a.Kind() == reflect.Func {
		if a.IsNil() != b.IsNil() {
			return fmt.Errorf("%s: function lost", path)
		}
		return nil
	}
	if a.Type() == b.Type() && a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return fmt.Errorf("%s: %v became %v", path, a, b)
		}
		return nil
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() != b.IsNil() {
			return fmt.Errorf("%s: nil-ness changed", path)
		}
		if a.IsNil() {
			return nil
		}
		return sameByName(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if _, ok := renamed[a.Type().Name()+"."+f.Name]; ok {
				continue
			}
			bf := b.FieldByName(f.Name)
			if !bf.IsValid() {
				return fmt.Errorf("%s.%s: no such field in %s", path, f.Name, b.Type())
			}
			if err := sameByName(path+"."+f.Name, a.Field(i), bf); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: length %d became %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if err := sameByName(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: %d entries became %d", path, a.Len(), b.Len())
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() {
				return fmt.Errorf("%s[%v] lost", path, k)
			}
			if err := sameByName(fmt.Sprintf("%s[%v]", path, k), a.MapIndex(k), bv); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: %s and %s cannot be compared", path, a.Type(), b.Type())
}
