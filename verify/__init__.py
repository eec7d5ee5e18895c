"""Post-deploy checks: does the live AWS account hold what the stack's config says it should?"""
