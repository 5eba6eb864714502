# Set any config versions here
# Docs: https://docs.coopcloud.tech/maintainers/handbook/#manage-configs
