"""Importers of real sources: UPR Info recommendation exports and IATI activity files."""
