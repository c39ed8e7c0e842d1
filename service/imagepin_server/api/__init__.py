"""The gRPC layer: servicer, conversion, the one error->status mapping, the server."""
