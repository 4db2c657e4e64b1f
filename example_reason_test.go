package appbackend_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/appbackend/appbackend"
)

// An app refines a closed error code with a reason of its own, which the UI client
// exposes as BackendError.reason.
func ExampleError_WithReason() {
	overLimit := appbackend.NewError(appbackend.CodeForbidden, "this refund is over your refund limit").
		WithReason("refund_limit")

	rec := httptest.NewRecorder()
	var app appbackend.App // WriteError needs no running App for an *Error
	app.WriteError(rec, httptest.NewRequest(http.MethodPost, "/api/refunds", nil), overLimit)
	body, _ := io.ReadAll(rec.Body)
	fmt.Print(rec.Code, " ", string(body))
	// Output:
	// 403 {"error":{"code":"forbidden","message":"this refund is over your refund limit","reason":"refund_limit"}}
}
