"""The JSON API: one router per area (cases, insights, rebuttals), documented at /openapi.json."""
