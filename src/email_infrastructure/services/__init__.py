"""The application layer: one App per process and the service functions every face calls.

Import the modules you need (`services.app`, `services.plans`, …): this package imports nothing
itself, so an audit does not pay for SQLAlchemy.
"""
