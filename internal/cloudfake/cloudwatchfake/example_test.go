package cloudwatchfake_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/updraft-dev/updraft/internal/cloudfake/cloudwatchfake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
)

// A test records invocations in the Lambda fake, which is the metrics
// Source, and reads them back as AWS/Lambda metrics through the real
// CloudWatch client. PageSize makes the fake page its answer, so the
// SDK's paginator follows NextToken.
func Example() {
	ctx := context.Background()
	lam := lambdafake.New(nil)
	defer lam.Close()
	fake := cloudwatchfake.New(lam)
	defer fake.Close()
	fake.PageSize = 2

	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, n := range []int{10, 20, 30} {
		at := start.Add(time.Duration(i)*time.Minute + 15*time.Second)
		lam.RecordInvocations("hello", "hello:live", "3", at, n, 1, 0)
	}

	client := cloudwatch.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fake.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	query := func(id, metric string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(metric),
				Dimensions: []types.Dimension{
					{Name: aws.String("FunctionName"), Value: aws.String("hello")},
					{Name: aws.String("Resource"), Value: aws.String("hello:live")},
				}},
			Period: aws.Int32(60),
			Stat:   aws.String("Sum"),
		}}
	}
	pages := cloudwatch.NewGetMetricDataPaginator(client, &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(start.Add(time.Hour)),
		MetricDataQueries: []types.MetricDataQuery{query("inv", "Invocations"), query("err", "Errors")},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range page.MetricDataResults {
			for i, ts := range r.Timestamps {
				fmt.Println(aws.ToString(r.Id), ts.UTC().Format("15:04"), r.Values[i], r.StatusCode)
			}
		}
	}
	// Output:
	// inv 12:00 10 PartialData
	// inv 12:01 20 PartialData
	// err 12:00 1 PartialData
	// err 12:01 1 PartialData
	// inv 12:02 30 Complete
	// err 12:02 1 Complete
}
