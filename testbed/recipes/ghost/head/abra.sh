# Set any config versions here
# Docs: https://docs.coopcloud.tech/maintainers/handbook/#manage-configs
export ENTRYPOINT_VERSION=v1
export MYSQL_BACKUP_VERSION=v1
