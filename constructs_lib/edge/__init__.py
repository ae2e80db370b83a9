"""The edge: the global external Application Load Balancer (frontend, routing table, backend
services and buckets) and the Cloud Armor policy in front of it."""
