// Package tracing connects amtsbote to OpenTelemetry: optional OTLP/HTTP export of spans for
// intake, mapping and each delivery, with the trace context carried in queue messages so one
// submission is one trace across stages and restarts.
package tracing

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is what amtsbote's stages start spans with.
func Tracer() trace.Tracer { return otel.Tracer("github.com/amtsbote/amtsbote") }

var propagator = propagation.TraceContext{}

// Setup exports spans to an OTLP/HTTP endpoint (host:port, e.g. 127.0.0.1:4318); "" leaves
// tracing off. The returned function flushes and stops the exporter.
func Setup(ctx context.Context, endpoint string, insecure bool) (func(context.Context) error, error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(endpoint)}
	if insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", endpoint, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("amtsbote"))))
	Use(tp)
	return tp.Shutdown, nil
}

// Use installs a tracer provider (tests install an in-memory one).
func Use(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
}

// Inject stores the span context of ctx in a queue message's metadata.
func Inject(ctx context.Context, msg *message.Message) {
	propagator.Inject(ctx, propagation.MapCarrier(msg.Metadata))
}

// Extract returns ctx carrying the span context a queue message was published with.
func Extract(ctx context.Context, msg *message.Message) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(msg.Metadata))
}
