"""Who may see and change what: patient compartments, care relationships, the access policy."""
