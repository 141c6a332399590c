package driver_test

import (
	"fmt"

	"github.com/updraft-dev/updraft/provider/driver"
)

// Drivers whose backend is their own code report codes directly with
// NewError; the portable type reads them with CodeOf.
func ExampleNewError() {
	err := driver.NewError(driver.FailedPrecondition, "revision 3 serves route live")
	fmt.Println(driver.CodeOf(err), err)
	// Output: FailedPrecondition revision 3 serves route live
}
