"""`imagepin webhook`: a Kubernetes mutating admission webhook that pins Pod images by digest."""
