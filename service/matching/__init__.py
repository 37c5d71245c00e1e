"""Matching needs to programmes and capabilities: transparent criteria, SQL candidates,
explainable scores, and a lifecycle that only the State's endorsement turns into an
engagement."""
