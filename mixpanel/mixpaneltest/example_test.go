package mixpaneltest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// Injecting faults: the next request is rate limited, and 1 in 10 of the
// following ones fails with a 503.
func ExampleServer_InjectFaults() {
	fake, err := mixpaneltest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	fake.InjectFaults(mixpaneltest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second})
	fake.SetFaultRate(0.1, mixpaneltest.Fault{Status: http.StatusServiceUnavailable})

	sink, err := mixpanel.NewSink(fake.Token(), mixpanel.WithEndpoint(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	batch := []exposure.Exposure{{
		Assignment: exposure.Assignment{Experiment: "Checkout Redesign", Variant: "control", Identity: exposure.Identity{DistinctID: "u1"}},
		Time:       time.Now(), InsertID: "0123456789abcdef0123456789abcdef",
	}}
	err = sink.Send(context.Background(), batch)
	retry, after := exposure.IsRetryable(err)
	fmt.Println(retry, after)
	fmt.Println(fake.Requests()[0].Status, fake.Len())
	// Output:
	// true 5s
	// 429 0
}

// A 400 reports the refused events one by one.
func ExampleServer_validation() {
	fake, err := mixpaneltest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	sink, err := mixpanel.NewSink(fake.Token(), mixpanel.WithEndpoint(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	at := time.Now()
	err = sink.Send(context.Background(), []exposure.Exposure{
		{Assignment: exposure.Assignment{Experiment: "E", Variant: "A", Identity: exposure.Identity{DistinctID: "u1"}}, Time: at, InsertID: "id-1"},
		{Assignment: exposure.Assignment{Experiment: "E", Variant: "A", Identity: exposure.Identity{DistinctID: "anonymous"}}, Time: at, InsertID: "id-2"},
	})
	var be *exposure.BatchError
	if errors.As(err, &be) {
		var re *mixpanel.RecordError
		for i, err := range be.Failed { // one here
			errors.As(err, &re)
			fmt.Println(i, re.Field)
		}
	}
	fmt.Println(fake.Len())
	// Output:
	// 1 properties.distinct_id
	// 1
}
