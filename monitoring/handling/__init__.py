"""
Handling: what Sensu 1.x's server does with an event after the registry update (process.rb
`process_event`, filter.rb, mutate.rb, handle.rb), run by the worker after the engine commits.
A domain package: it publishes through monitoring.bus and never imports monitoring.sensu.
"""
