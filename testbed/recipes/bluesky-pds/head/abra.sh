# Set any config versions here
# Docs: https://docs.coopcloud.tech/maintainers/handbook/#manage-configs
export PDS_DATA_VERSION=v1
export PG_BACKUP_VERSION=v1
