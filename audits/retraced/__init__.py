"""
Retraced's APIs over the audit trail: the publisher API (`/publisher/v1`), the viewer API the
embeddable logs viewer calls (`/viewer/v1`) and the Enterprise IT API (`/enterprise/v1`).
A peer protocol package: it imports the audits domain, never the reverse.
"""
