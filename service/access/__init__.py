"""Who is asking (principals) and what they may see and do."""
