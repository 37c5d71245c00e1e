"""The GraphQL API: a thin layer of types, loaders and resolvers over `service`."""
