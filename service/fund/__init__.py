"""The UPR Voluntary Fund: rounds, transparent criteria, applications, allocation."""
