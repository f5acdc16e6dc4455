"""Deployment of the amd-host-device plugin on Kubernetes nodes (manifests, image, installer)."""
