"""Custom-resource handlers run by CloudFormation at deploy time (never on the request path)."""
