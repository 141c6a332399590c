package s3fake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/updraft-dev/updraft/internal/cloudfake/s3fake"
)

// A test points the real S3 client (path-style) at the fake, uploads an
// object and reads it back; the fake also exposes the object directly, so
// that it can serve as lambdafake's ObjectStore for S3-hosted code.
func Example() {
	ctx := context.Background()
	fake := s3fake.New(nil)
	defer fake.Close()
	fake.CreateBucket("code")

	client := s3.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fake.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	}, func(o *s3.Options) { o.UsePathStyle = true })

	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("code"),
		Key:    aws.String("hello/v1.zip"),
		Body:   strings.NewReader("zip bytes"),
	}); err != nil {
		log.Fatal(err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("code"), Key: aws.String("hello/v1.zip")})
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	fmt.Printf("GetObject: %q (%d bytes)\n", body, aws.ToInt64(got.ContentLength))

	direct, ok := fake.Object("code", "hello/v1.zip")
	fmt.Printf("Object:    %q %v\n", direct, ok)

	_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("code"), Key: aws.String("missing")})
	var nsk *types.NoSuchKey
	fmt.Println("missing:  ", errors.As(err, &nsk))
	fmt.Println("calls:    ", fake.Calls())
	// Output:
	// GetObject: "zip bytes" (9 bytes)
	// Object:    "zip bytes" true
	// missing:   true
	// calls:     [PutObject GetObject GetObject]
}
