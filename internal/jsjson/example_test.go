package jsjson_test

import (
	"fmt"

	"github.com/appbackend/appbackend/internal/jsjson"
)

// A verifier rebuilds the string a UI extension signed,
// JSON.stringify({...payload, user_id, account_id}), from a pretty-printed body.
func Example() {
	payload, err := jsjson.Parse([]byte(`{
  "note": "<b>&</b>",
  "10": 1.50,
  "2": 1E21,
  "user_id": "usr_spoofed"
}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	payload.Members.Set("user_id", jsjson.StringValue("usr_K6yd2CbXLO9A5G"))
	payload.Members.Set("account_id", jsjson.StringValue("acct_1JSkf6FRwUQjTSJE"))
	fmt.Println(string(jsjson.AppendStringify(nil, payload)))
	// Output:
	// {"2":1e+21,"10":1.5,"note":"<b>&</b>","user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}
}

func ExampleLookupString() {
	body := []byte(`{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE","extra":[1,2]}`)
	user, found, err := jsjson.LookupString(body, "user_id")
	fmt.Println(user, found, err)
	// Output: usr_K6yd2CbXLO9A5G true <nil>
}

func ExampleAppendNumber() {
	for _, f := range []float64{1e21, 1e20, 1.5e-7, 0.000001, 12345678901234567890} {
		fmt.Println(string(jsjson.AppendNumber(nil, f)))
	}
	// Output:
	// 1e+21
	// 100000000000000000000
	// 1.5e-7
	// 0.000001
	// 12345678901234567000
}
