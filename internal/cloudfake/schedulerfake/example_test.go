package schedulerfake_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/internal/cloudfake/schedulerfake"
)

// A test points the real EventBridge Scheduler client at the fake,
// creates a schedule and reads it back; an expression the service would
// reject fails the same way.
func Example() {
	ctx := context.Background()
	fake := schedulerfake.New()
	defer fake.Close()

	client := scheduler.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fake.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})

	target := &types.Target{
		Arn:     aws.String("arn:aws:lambda:us-east-1:123456789012:function:hello:live"),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/scheduler"),
	}
	created, err := client.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:               aws.String("hello-tick"),
		ScheduleExpression: aws.String("cron(*/5 * * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             target,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToString(created.ScheduleArn))

	got, err := client.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("hello-tick")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToString(got.GroupName), aws.ToString(got.ScheduleExpression), got.State, got.FlexibleTimeWindow.Mode)
	fmt.Println(aws.ToString(got.Target.Arn))

	// A Unix cron (five fields) is not a Scheduler expression.
	_, err = client.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:               aws.String("bad"),
		ScheduleExpression: aws.String("cron(*/5 * * * *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             target,
	})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.ErrorCode()+":", ae.ErrorMessage())
	}
	fmt.Println(len(fake.Schedules()), "schedule stored")
	// Output:
	// arn:aws:scheduler:us-east-1:123456789012:schedule/default/hello-tick
	// default cron(*/5 * * * ? *) ENABLED OFF
	// arn:aws:lambda:us-east-1:123456789012:function:hello:live
	// ValidationException: Invalid Schedule Expression cron(*/5 * * * *).
	// 1 schedule stored
}
