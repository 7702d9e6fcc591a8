"""Task cores: observation, action → twin configuration, reward, cost and masks, one per problem."""
