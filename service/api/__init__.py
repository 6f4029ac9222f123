"""HTTP surfaces of the gateway: one sub-package per surface (protocol/service/router)."""
