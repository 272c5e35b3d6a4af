// Package stream owns the live path of events into the lake: the event
// contract's mapping to the source contract (api/nexus/v1, one field per
// column of internal/olist), validation at the edge, the gRPC service that
// produces valid events to Kafka, the workers that append micro-batches to
// Bronze and commit the Kafka offsets in the same lake snapshot, the
// embedded Kafka-protocol broker (franz-go's kfake) and the load generator.
package stream
