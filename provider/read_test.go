package provider

import (
	"reflect"

	"github.com/updraft-dev/updraft/provider/driver"
)

// ReadOptions is the portable copy of driver.ReadScope: the field test
// keeps them in step.
func init() {
	typePairs[reflect.TypeFor[ReadOptions]()] = reflect.TypeFor[driver.ReadScope]()
}
