package driver

import (
	"errors"
	"reflect"
)

// ErrorAs is errors.As for drivers' ErrorAs methods: it returns false,
// where errors.As would panic, for a nil error, a nil target or a target
// that is not a non-nil pointer to an interface or to a type implementing
// error.
func ErrorAs(err error, target any) bool {
	if err == nil || target == nil {
		return false
	}
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	t := v.Type().Elem()
	if t.Kind() != reflect.Interface && !t.Implements(reflect.TypeFor[error]()) {
		return false
	}
	return errors.As(err, target)
}
