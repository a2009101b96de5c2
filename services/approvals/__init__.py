"""A supervisor's pending approvals: screen-outs, downgrades, closures and skipped assessments."""
