// Package gateway is the fifth flow: it puts appbackend in front of an app's own server
// (the upstream), written in any language. Verified /api requests are proxied to it with
// the caller's identity in Appbackend-* headers; events, schedule runs and jobs are
// delivered to it as HTTP calls signed with the Standard Webhooks scheme
// (webhook-id, webhook-timestamp, webhook-signature), so that any Standard Webhooks
// library verifies them. It holds no queue of its own: the root package calls it from
// the event processing job, the schedules and a job worker on the one runtime.
package gateway
