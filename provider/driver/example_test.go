package driver_test

import (
	"errors"
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

// A cloud driver gives an SDK error the code it knows it has with Wrap;
// errors.As still reaches the SDK error.
func ExampleWrap() {
	sdkErr := errors.New("InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda")
	err := driver.Wrap(driver.FailedPrecondition, sdkErr, "the new role is not usable yet")
	fmt.Println(driver.CodeOf(err), errors.Is(err, sdkErr))
	fmt.Println(err)
	// Output:
	// FailedPrecondition true
	// the new role is not usable yet: InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda
}

// A driver selected by more than its name builds its target with
// TargetURL, so the same name in two regions is two targets.
func ExampleTargetURL() {
	fmt.Println(driver.TargetURL("awslambda", "hello", map[string]string{"region": "eu-west-1", "profile": ""}))
	// Output: awslambda://hello?region=eu-west-1
}
