// Package gateway is the fifth flow: it puts appbackend in front of an app's own server
// (the upstream), written in any language. Verified /api requests are proxied to it with
// the caller's identity in Appbackend-* headers; events, schedule runs and jobs are
// delivered to it as HTTP calls signed with the Standard Webhooks scheme
// (webhook-id, webhook-timestamp, webhook-signature), so that any Standard Webhooks
// library verifies them; and the upstream calls back through the upstream API (its
// jobs, their progress, Stripe for an account), with the secret as a bearer token.
//
// Service owns all of it. The App builds one in New (the config file's schedules are
// registered then), opens it once the secrets and Stripe clients exist, and mounts it:
// ServeHTTP behind the signed routes, DeliverEvent as the event processor's delivery
// step, AddWorkers on the one runtime, Start and Stop for the upstream API's listener.
// It holds no queue of its own: its jobs and schedule runs are the runtime's.
package gateway
