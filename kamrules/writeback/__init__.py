"""Write-back: findings to tasks, reconciliation against the CRM's tasks."""
